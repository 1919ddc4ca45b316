"""The outbox: every message the product promises, durable from the moment it is promised.

A confirmation and the owner's activation notice are written in the activation's own
transaction; the "your links are ready" message in the transaction that learns a link is still
missing. So a message exists exactly when what it announces does. Each row is then sent by
whoever is free, under the same claim / lease / settle discipline as the lifecycle's work
(webapp.domain.lifecycle):

- the writer that will send at once (the bot's handler, for the customer's immediate answer)
  writes the row already claimed, so the sweep leaves it alone while the handler is alive;
- anything not sent — the handler crashed, Telegram failed or asked to wait — is found by the
  sweep once its lease or back-off has run out, and sent then;
- a settle matches the claimant's own lease, so a superseded sender changes nothing.

Sent exactly once, except for a crash between Telegram accepting the message and the settling
commit: the lease runs out and the message goes a second time. Telegram's sendMessage has no
idempotency key, so that window can only be kept small (milliseconds), not closed.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from webapp.domain.core_sql import connection_of
from webapp.domain.lifecycle import LEASE, Outcome
from webapp.i18n import D_, Worded
from webapp.models import Customer, OutboxMessage, Subscription

CONFIRMATION = "confirmation"
OWNER_NOTICE = "owner_notice"
JOIN_LINKS = "join_links"
KINDS = (CONFIRMATION, OWNER_NOTICE, JOIN_LINKS)

MAX_ATTEMPTS = 8
BACKOFF = timedelta(seconds=30)  # 30 s, 1 min, 2 min, … between attempts, at most 1 h
MAX_BACKOFF = timedelta(hours=1)
# Owner notices claimed together are merged into as few messages as fit.
NOTICE_BATCH = 50


@dataclass(frozen=True)
class Claimed:
    """A message taken by one sender: plain values, usable after the session is gone."""

    id: int
    project_id: int
    kind: str
    chat_id: int
    text: str
    customer_id: int | None
    subscription_id: int | None
    plan_id: int | None
    claimed_at: datetime
    attempts: int


def write(
    session: Session,
    project_id: int,
    kind: str,
    chat_id: int,
    text: str,
    now: datetime,
    *,
    customer_id: int | None = None,
    subscription_id: int | None = None,
    plan_id: int | None = None,
    claimed: bool = False,
) -> int:
    """Promise a message in the caller's transaction; ``claimed`` when the caller sends it now.
    Its id.

    A claimed row is held until ``now + LEASE`` (settle it with the same ``now``); an unclaimed
    one is due at once for whoever is free.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    return connection_of(session).execute(
        NEW_MESSAGE,
        {
            "project_id": project_id,
            "kind": kind,
            "chat_id": chat_id,
            "text": text,
            "customer_id": customer_id,
            "subscription_id": subscription_id,
            "plan_id": plan_id,
            "status": "pending",
            "attempts": 1 if claimed else 0,
            "next_attempt_at": now + LEASE if claimed else now,
            "created_at": now,
        },
    ).scalar_one()


def write_claimed(
    session: Session,
    project_id: int,
    kind: str,
    chat_id: int,
    text: str,
    now: datetime,
    *,
    customer_id: int | None = None,
    subscription_id: int | None = None,
    plan_id: int | None = None,
) -> Claimed:
    """``write`` a message the caller sends at once: the claim it holds."""
    ids = {"customer_id": customer_id, "subscription_id": subscription_id, "plan_id": plan_id}
    message_id = write(session, project_id, kind, chat_id, text, now, claimed=True, **ids)
    return Claimed(message_id, project_id, kind, chat_id, text, **ids, claimed_at=now, attempts=1)


NEW_MESSAGE = insert(OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)


def claimed_values(message: OutboxMessage, claimed_at: datetime) -> Claimed:
    return Claimed(
        id=message.id,
        project_id=message.project_id,
        kind=message.kind,
        chat_id=message.chat_id,
        text=message.text,
        customer_id=message.customer_id,
        subscription_id=message.subscription_id,
        plan_id=message.plan_id,
        claimed_at=claimed_at,
        attempts=message.attempts,
    )


def due_ids(
    session: Session, now: datetime, limit: int = 1000, kinds: Iterable[str] = KINDS
) -> list[int]:
    """Pending messages whose (next) attempt is due, including ones a crashed sender held."""
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.kind.in_(list(kinds)),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim(session: Session, message_id: int, now: datetime) -> Claimed | None:
    """Take a due message until ``now + LEASE`` and count the attempt; for one caller only."""
    claimed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
        )
        .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    message = session.get(OutboxMessage, message_id, populate_existing=True)
    return claimed_values(message, now)


def claim_owner_notices(
    session: Session, project_id: int, now: datetime, limit: int = NOTICE_BATCH
) -> list[Claimed]:
    """Take the project's due owner notices at once (oldest first), so they can be merged."""
    ids = due_ids_of_project(session, project_id, OWNER_NOTICE, now, limit)
    return [c for c in (claim(session, message_id, now) for message_id in ids) if c is not None]


def due_ids_of_project(
    session: Session, project_id: int, kind: str, now: datetime, limit: int
) -> list[int]:
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.project_id == project_id,
            OutboxMessage.kind == kind,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _held(message_id: int, claimed_at: datetime):
    return (
        OutboxMessage.id == message_id,
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at == claimed_at + LEASE,
    )


messages = OutboxMessage.__table__
SENT = (
    update(messages)
    .where(
        messages.c.id == bindparam("message_id"),
        messages.c.status == "pending",
        messages.c.next_attempt_at == bindparam("lease_end"),
    )
    .values(status="sent", next_attempt_at=None, last_error=None)
)


def settle(
    session: Session, message_id: int, claimed_at: datetime, outcome: Outcome, now: datetime
) -> bool:
    """Record how the attempt claimed at ``claimed_at`` went; ``False`` if the claim was lost.

    ``done`` is sent; ``skipped`` is cancelled (nothing left to say: e.g. a rollback undid what
    the message announced); ``retry`` backs off and gives up as ``failed`` after
    ``MAX_ATTEMPTS``; ``failed`` keeps its reason for the owner.
    """
    if outcome.status == "done" and not outcome.blocked:
        # The common case in one statement: the customer's answer waits for it.
        sent = connection_of(session).execute(
            SENT, {"message_id": message_id, "lease_end": claimed_at + LEASE, "sent_at": now}
        )
        return sent.rowcount == 1
    message = session.scalars(
        select(OutboxMessage)
        .where(*_held(message_id, claimed_at))
        .execution_options(populate_existing=True)
    ).first()
    if message is None:
        return False
    message.last_error = outcome.error[:255] if outcome.error else None
    if outcome.status == "done":
        message.status, message.sent_at, message.next_attempt_at = "sent", now, None
    elif outcome.status == "skipped":
        message.status, message.next_attempt_at = "cancelled", None
    elif outcome.status == "retry" and message.attempts < MAX_ATTEMPTS:
        backoff = min(BACKOFF * 2 ** (message.attempts - 1), MAX_BACKOFF)
        message.next_attempt_at = max(outcome.retry_at or now, now + backoff)
    else:
        if outcome.status == "retry":
            error = f"gave up after {message.attempts} attempts: {outcome.error}"
            message.last_error = error[:255]
        message.status, message.next_attempt_at = "failed", None
    if outcome.blocked and message.customer_id is not None:
        session.execute(
            update(Customer)
            .where(Customer.id == message.customer_id, Customer.blocked_bot_at.is_(None))
            .values(blocked_bot_at=now)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return True


def cancel_unclaimed_confirmations(
    session: Session, subscription_ids: Iterable[int], now: datetime
) -> int:
    """A rollback ends these subscriptions: their confirmations nobody is sending now are void.

    One a sender holds is left to it: that sender checks the subscription before sending, and
    the end notice waits until it is settled (lifecycle's end-notice clause), so the customer never
    reads "withdrawn" before "Code accepted".
    """
    ids = list(subscription_ids)
    if not ids:
        return 0
    cancelled = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.subscription_id.in_(ids),
            OutboxMessage.kind.in_([CONFIRMATION, JOIN_LINKS]),
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
        )
        .values(status="cancelled", next_attempt_at=None, last_error="access withdrawn")
        .execution_options(synchronize_session=False)
    )
    return cancelled.rowcount


def subscription_active(session: Session, subscription_id: int | None, now: datetime) -> bool:
    """Whether what a confirmation announces still holds (a rollback may have undone it)."""
    if subscription_id is None:
        return True
    subscription = session.get(Subscription, subscription_id, populate_existing=True)
    return subscription is not None and subscription.is_active(now)


@dataclass(frozen=True)
class Undelivered:
    """A promised message that could not be delivered, for the owner's project page."""

    id: int
    kind: str
    who: str
    error: str
    created_at: datetime


KIND_LABELS = {
    CONFIRMATION: D_("Confirmation"),
    OWNER_NOTICE: D_("Your activation notice"),
    JOIN_LINKS: D_("Join links"),
}


def undelivered(session: Session, project_id: int, limit: int = 20) -> list[Undelivered]:
    """The project's messages that failed for good, newest first."""
    rows = session.execute(
        select(OutboxMessage, Customer)
        .outerjoin(Customer, Customer.id == OutboxMessage.customer_id)
        .where(OutboxMessage.project_id == project_id, OutboxMessage.status == "failed")
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        Undelivered(
            id=message.id,
            kind=KIND_LABELS.get(message.kind, message.kind),
            who=customer.display_name if customer is not None else Worded(D_("you (the owner)")),
            error=message.last_error or Worded(D_("unknown error")),
            created_at=message.created_at,
        )
        for message, customer in rows
    ]
