"""What is due in a subscription's life: reminders before the end, and the end itself."""

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from webapp.domain.entitlements import RemovalDecision, decide_removals, queue_removals
from webapp.models import Subscription

REMINDER_LEAD = timedelta(hours=24)


def _reminder_due_clause(now: datetime):
    return (
        Subscription.ended_at.is_(None),
        Subscription.ends_at.is_not(None),
        Subscription.ends_at > now,
        Subscription.ends_at <= now + REMINDER_LEAD,
        or_(
            Subscription.reminded_for_ends_at.is_(None),
            Subscription.reminded_for_ends_at != Subscription.ends_at,
        ),
    )


def due_reminder_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Subscriptions ending within 24 h whose current end has not been reminded of yet.

    Served by the partial index on ``ends_at`` of open subscriptions: a range scan over the next
    24 hours, however many subscriptions exist.
    """
    query = (
        select(Subscription.id)
        .where(*_reminder_due_clause(now))
        .order_by(Subscription.ends_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def ended_subscription_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Open subscriptions whose end has passed: their members must be removed."""
    query = (
        select(Subscription.id)
        .where(
            Subscription.ended_at.is_(None),
            Subscription.ends_at.is_not(None),
            Subscription.ends_at <= now,
        )
        .order_by(Subscription.ends_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_reminder(session: Session, subscription_id: int, now: datetime) -> bool:
    """Mark the reminder of the subscription's current end as taken; ``True`` for one caller only.

    A conditional UPDATE, so two sweeps or a duplicated job agree on a single sender.
    """
    claimed = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, *_reminder_due_clause(now))
        .values(reminded_for_ends_at=Subscription.ends_at, reminder_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def end_subscription(
    session: Session, subscription_id: int, now: datetime
) -> RemovalDecision | None:
    """End a subscription whose time is up and queue its removals; ``None`` if not due (now).

    Idempotent: the conditional UPDATE lets exactly one caller end it.
    """
    ended = session.execute(
        update(Subscription)
        .where(
            Subscription.id == subscription_id,
            Subscription.ended_at.is_(None),
            Subscription.ends_at.is_not(None),
            Subscription.ends_at <= now,
        )
        .values(ended_at=now, end_reason="expired")
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        return None
    subscription = session.get(Subscription, subscription_id, populate_existing=True)
    decision = decide_removals(session, subscription, now)
    queue_removals(session, decision, subscription.project_id, "expired", now)
    return decision
