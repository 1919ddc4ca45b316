"""Pools sized from the configuration: a full pool makes the caller wait for a connection, it is
never taken for Redis or the database being down."""

import threading

from webapp import queues
from webapp.config import engine_options


def test_a_thread_finding_every_redis_connection_in_use_waits_for_one(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_MAX_CONNECTIONS", "1")
    monkeypatch.setattr(queues, "_clients", {})
    client = queues.redis_from_url(redis_url)
    pool = client.connection_pool
    assert pool.max_connections == 1
    held = pool.get_connection()
    waiting = threading.Event()
    get = pool.pool.get

    def get_and_tell(*args, **kwargs):
        waiting.set()
        return get(*args, **kwargs)

    monkeypatch.setattr(pool.pool, "get", get_and_tell)
    answers: list = []
    other = threading.Thread(target=lambda: answers.append(client.ping()))
    other.start()
    assert waiting.wait(10)  # the other thread is waiting for the one connection

    pool.release(held)
    other.join(10)

    assert answers == [True]
    pool.disconnect()


def test_one_redis_client_and_pool_per_process_for_every_bot(redis_url):
    assert queues.redis_from_url(redis_url) is queues.redis_from_url(redis_url)


def test_the_database_pool_is_sized_from_the_environment():
    options = engine_options(
        "postgresql+psycopg://db/admit",
        {"DB_POOL_SIZE": "16", "DB_MAX_OVERFLOW": "0", "DB_POOL_TIMEOUT": "45"},
    )
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (16, 0, 45)
    defaults = engine_options("postgresql+psycopg://db/admit", {})
    assert (defaults["pool_size"], defaults["max_overflow"]) == (5, 5)
    assert "pool_size" not in engine_options("sqlite:///x.db", {})
