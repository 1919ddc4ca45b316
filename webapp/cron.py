"""Periodic sweeps, loaded by ``rq cron webapp.cron``.

``rq cron`` has no leader election and fires interval jobs at start-up, so every swept job is
idempotent: the database, not the scheduler, decides what is due.
"""

from rq import cron

from bot import owner_codes, reconciler
from webapp import jobs
from webapp.queues import QUEUE_NAME

# A sweep left waiting longer than ``ttl`` (workers down) is dropped: the next one does its work.
cron.register(
    jobs.sweep_lifecycle, QUEUE_NAME, interval=60, job_timeout=jobs.SWEEP_TIMEOUT, ttl=300
)

# The owner's daily "needs attention" digest: hourly, and the database lets one a day through.
cron.register(owner_codes.send_attention_digests, QUEUE_NAME, interval=3600, ttl=1800)

# Compare every chat with the database (also at start-up: right after an outage).
cron.register(
    reconciler.sweep_reconcile, QUEUE_NAME, interval=reconciler.RECONCILE_EVERY,
    job_timeout=jobs.SWEEP_TIMEOUT, ttl=3600,
)
