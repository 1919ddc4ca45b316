"""SQLite as a multi-process database for the local default (web, bot and worker at once)."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


def tune_sqlite(engine: Engine) -> None:
    """WAL so readers never wait for the writer, and ``BEGIN IMMEDIATE`` for every transaction.

    pysqlite's own transaction handling begins lazily and breaks SAVEPOINTs; a deferred
    transaction that reads and then writes can also fail at once with "database is locked"
    when another writer got there first. Taking the write lock at BEGIN makes writers queue
    (up to the connect timeout) instead, which is what the activation counter relies on here.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
