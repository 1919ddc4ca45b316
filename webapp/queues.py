"""The Redis connection and the RQ queue, built from REDIS_URL."""

import os
import threading
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import BlockingConnectionPool, Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

QUEUE_NAME = "admit"


_clients: dict[str, Redis] = {}
_clients_lock = threading.Lock()


def redis_from_url(url: str) -> Redis:
    """The process's one client for ``url``, over one pool shared by every thread and bot.

    The pool blocks: a thread that finds every connection in use waits for one (up to
    ``REDIS_POOL_TIMEOUT``) instead of failing with MaxConnectionsError, which callers would
    take for Redis being down. Size it with ``REDIS_MAX_CONNECTIONS`` (a bot process needs about
    one per handler thread, a web worker one per thread).
    """
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            options = {}
            if url.startswith("rediss://"):
                options["ssl_cert_reqs"] = None  # Heroku Redis presents a self-signed certificate
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=int(os.environ.get("REDIS_MAX_CONNECTIONS") or 50),
                timeout=float(os.environ.get("REDIS_POOL_TIMEOUT") or 20),
                **options,
            )
            client = _clients[url] = Redis(connection_pool=pool)
        return client


def get_redis() -> Redis:
    app = current_app._get_current_object()
    conn = app.extensions.get("admit_redis")
    if conn is None:
        url = app.config["REDIS_URL"]
        if not url:
            raise RuntimeError("REDIS_URL is not set")
        conn = app.extensions["admit_redis"] = redis_from_url(url)
    return conn


def get_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=get_redis())


# A job in one of these states will run: a second one for the same work is not needed.
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


def enqueue_once(queue: Queue, func, *args, job_id: str, job_timeout: int, **options) -> Job | None:
    """Enqueue ``func(*args)`` as ``job_id`` unless that job is already waiting to run.

    The id names the work (``reminder-12-1795000000``), so sweeps that find the same work
    collapse into one queued job. A finished or failed job of that id is replaced; so is a
    "started" one older than its timeout, whose worker died (RQ would have stopped a live one).
    A duplicate that slips through anyway is harmless: jobs claim their work in the database.
    Returns the new job, or ``None`` when one was already waiting.
    """
    try:
        existing = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        existing = None
    if existing is not None:
        status = existing.get_status(refresh=False)
        if status in _WAITING:
            return None
        if status == JobStatus.STARTED and not _abandoned(existing, job_timeout):
            return None
        existing.delete()
    try:
        return queue.enqueue(
            func, *args, job_id=job_id, job_timeout=job_timeout, unique=True, **options
        )
    except DuplicateJobError:
        return None


def _abandoned(job: Job, job_timeout: int) -> bool:
    started = job.started_at
    if started is None:
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    # RQ stamps jobs with the real time, whatever the product clock says.
    return datetime.now(UTC) - started > timedelta(seconds=job_timeout + 60)
