"""The Redis connection and the RQ queue, built from REDIS_URL."""

from flask import current_app
from redis import Redis
from rq import Queue

QUEUE_NAME = "admit"


def redis_from_url(url: str) -> Redis:
    if url.startswith("rediss://"):
        # Heroku Redis presents a self-signed certificate.
        return Redis.from_url(url, ssl_cert_reqs=None)
    return Redis.from_url(url)


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
