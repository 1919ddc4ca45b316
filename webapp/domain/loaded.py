"""Keeping a session's objects true to rows the hot paths write in Core statements."""

from sqlalchemy import inspect
from sqlalchemy.orm import Session


def expire_loaded(session: Session, *rows: tuple[type, int]) -> None:
    """Objects the session already holds for these (model, id) rows are read again on next use.

    A Core UPDATE bypasses the identity map: a caller that loaded the row before (a test, a
    view) would otherwise keep seeing the old values for the rest of its transaction.
    """
    for model, row_id in rows:
        loaded = session.identity_map.get(inspect(model).identity_key_from_primary_key([row_id]))
        if loaded is not None:
            session.expire(loaded)
