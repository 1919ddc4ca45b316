"""Owners' log-ins, each one its own revocable session.

The cookie carries a random secret; the database keeps only its SHA-256, with when the log-in
started and was last seen. A log-in ends at log-out, after ``idle`` without a request, after
``max_age`` in all, when the owner logs out everywhere, or when the password changes.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp.domain.errors import NotFound
from webapp.models import Owner, OwnerSession

# How stale ``last_seen_at`` may get before a request writes it again: not a write per request,
# and still minutes-accurate for the idle limit.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    max_age: timedelta


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session, owner: Owner, now: datetime, user_agent: str | None, ip: str | None
) -> str:
    """A new log-in for ``owner``; the secret to keep in the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        OwnerSession(
            owner_id=owner.id,
            token_hash=_hash(token),
            user_agent=(user_agent or "")[:255] or None,
            ip=(ip or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    owner.login_token = token
    return token


def _is_live(row: OwnerSession, now: datetime, lifetimes: Lifetimes) -> bool:
    return (
        row.ended_at is None
        and now - row.last_seen_at < lifetimes.idle
        and now - row.created_at < lifetimes.max_age
    )


def resume_session(
    session: Session, token: str, now: datetime, lifetimes: Lifetimes
) -> tuple[Owner, OwnerSession] | None:
    """The owner of the live log-in ``token`` and that log-in, or None if it ended."""
    if not token:
        return None
    row = session.scalars(
        select(OwnerSession).where(OwnerSession.token_hash == _hash(token))
    ).first()
    if row is None or not _is_live(row, now, lifetimes):
        return None
    owner = session.get(Owner, row.owner_id)
    if owner is None:
        return None
    owner.login_token = token
    return owner, row


def needs_touch(row: OwnerSession, now: datetime) -> bool:
    return now - row.last_seen_at >= TOUCH_EVERY


def touch_statement(session_id: int, now: datetime):
    """The UPDATE that marks a log-in as seen at ``now`` (run outside the request's session)."""
    return update(OwnerSession).where(OwnerSession.id == session_id).values(last_seen_at=now)


def end_session(session: Session, token: str | None, now: datetime) -> None:
    """End the log-in ``token`` (log-out); an unknown or ended one changes nothing."""
    if not token:
        return
    session.execute(
        update(OwnerSession)
        .where(OwnerSession.token_hash == _hash(token), OwnerSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_other_sessions(
    session: Session, owner_id: int, keep_token: str | None, now: datetime
) -> int:
    """End every log-in of the owner but ``keep_token``'s; how many ended."""
    statement = update(OwnerSession).where(
        OwnerSession.owner_id == owner_id, OwnerSession.ended_at.is_(None)
    )
    if keep_token:
        statement = statement.where(OwnerSession.token_hash != _hash(keep_token))
    return session.execute(statement.values(ended_at=now)).rowcount


def end_one_session(session: Session, owner_id: int, session_id: int, now: datetime) -> None:
    """End one of the owner's log-ins by its id (the account page's list)."""
    row = session.get(OwnerSession, session_id)
    if row is None or row.owner_id != owner_id:
        raise NotFound("session")
    if row.ended_at is None:
        row.ended_at = now
        session.flush()


def active_sessions(
    session: Session, owner_id: int, now: datetime, lifetimes: Lifetimes
) -> list[OwnerSession]:
    """The owner's live log-ins, the most recently seen first."""
    rows = session.scalars(
        select(OwnerSession)
        .where(
            OwnerSession.owner_id == owner_id,
            OwnerSession.ended_at.is_(None),
            OwnerSession.last_seen_at > now - lifetimes.idle,
            OwnerSession.created_at > now - lifetimes.max_age,
        )
        .order_by(OwnerSession.last_seen_at.desc(), OwnerSession.id.desc())
    ).all()
    return list(rows)


def is_current(row: OwnerSession, token: str | None) -> bool:
    return bool(token) and row.token_hash == _hash(token)


def move_sessions_with_the_clock(session: Session, owner_id: int, delta: timedelta) -> None:
    """The sandbox's clock control moves the product's time by ``delta``: move the owner's live
    log-ins with it, so a demo that skips a week does not end the session it is watched from."""
    rows = session.scalars(
        select(OwnerSession).where(
            OwnerSession.owner_id == owner_id, OwnerSession.ended_at.is_(None)
        )
    )
    for row in rows:
        row.created_at = row.created_at + delta
        row.last_seen_at = row.last_seen_at + delta
