"""Periodic sweeps, loaded by ``rq cron webapp.cron``.

``rq cron`` has no leader election and fires interval jobs at start-up, so every swept job is
idempotent: the database, not the scheduler, decides what is due.
"""

from rq import cron

from bot import reconciler
from webapp import jobs
from webapp.queues import QUEUE_NAME

# A sweep left waiting longer than ``ttl`` (workers down) is dropped: the next one does its work.
cron.register(
    jobs.sweep_lifecycle, QUEUE_NAME, interval=60, job_timeout=jobs.SWEEP_TIMEOUT, ttl=300
)
# Compare every chat with the database (also at start-up: right after an outage).
cron.register(
    reconciler.sweep_reconcile, QUEUE_NAME, interval=reconciler.RECONCILE_EVERY,
    job_timeout=jobs.SWEEP_TIMEOUT, ttl=3600,
)
