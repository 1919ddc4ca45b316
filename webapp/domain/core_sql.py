"""Core statements on the caller's ORM session: the hot paths (the bot's activation) write and
read with prebuilt Core statements, in the session's transaction, without loading objects."""

from sqlalchemy import Connection, inspect
from sqlalchemy.orm import Session


def connection_of(session: Session) -> Connection:
    """The session's connection, in its transaction, for Core statements.

    What the session holds unwritten is flushed first: a statement on the connection skips the
    session's autoflush (and its per-statement bookkeeping, a good part of a statement's CPU).
    """
    session.flush()
    return session.connection()


def expire_loaded(session: Session, *rows: tuple[type, int]) -> None:
    """Objects the session already holds for these (model, id) rows are read again on next use.

    A Core UPDATE bypasses the identity map: a caller that loaded the row before (a test, a
    view) would otherwise keep seeing the old values for the rest of its transaction.
    """
    for model, row_id in rows:
        loaded = session.identity_map.get(inspect(model).identity_key_from_primary_key([row_id]))
        if loaded is not None:
            session.expire(loaded)
