"""What is due in a subscription's life: reminders before the end, the end, removals, notices.

Every piece of Telegram work is claimed in the database before anything is sent: a conditional
UPDATE that one caller wins, which sets a *lease* (the claim holds until then). The job commits
the claim, talks to Telegram outside any transaction, then settles the claim in a short second
transaction (sent / try again at / failed for good), matching on its own lease so a late,
superseded job changes nothing. So:

- two sweeps, a job enqueued twice, or a retried job: one claim wins, one message;
- a job killed after its claim and before sending: the lease runs out and a later sweep sends;
- a job killed after Telegram accepted the message and before the settling commit (a few
  milliseconds): the lease runs out and the message goes out a second time. Telegram offers no
  idempotency key for sendMessage, so this window cannot be closed, only kept small.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from webapp.domain import audit, funnel, notices, owner_texts
from webapp.domain.customers import customer_language
from webapp.domain.entitlements import RemovalDecision, decide_removals, is_entitled, queue_removals
from webapp.models import AccessCode, Customer, Membership, Removal, Subscription

REMINDER_LEAD = timedelta(hours=24)
# Longer than a job may run (webapp.jobs.JOB_TIMEOUT): a live job never loses its claim.
LEASE = timedelta(minutes=10)
# Customers are told about an end for this long; after that the news is stale.
END_NOTICE_WINDOW = timedelta(days=3)
REMOVAL_MAX_ATTEMPTS = 8
REMOVAL_BACKOFF = timedelta(seconds=30)  # 30 s, 1 min, 2 min, … between attempts, at most 1 h
REMOVAL_MAX_BACKOFF = timedelta(hours=1)
NOTIFIED_REASONS = ("expired", "rolled_back")
BLOCKED_ERROR = "the customer has blocked the bot"


@dataclass(frozen=True)
class Outcome:
    """What came of one attempt at Telegram work, in the domain's terms (no Bot API types)."""

    status: str  # "done", "skipped", "retry", "failed"
    error: str | None = None
    retry_at: datetime | None = None
    blocked: bool = False  # the customer blocked the bot

    @classmethod
    def done(cls, note: str | None = None) -> "Outcome":
        return cls("done", error=note)

    @classmethod
    def retry(cls, retry_at: datetime, error: str) -> "Outcome":
        return cls("retry", error=error, retry_at=retry_at)

    @classmethod
    def failed(cls, error: str, blocked: bool = False) -> "Outcome":
        return cls("failed", error=error[:255], blocked=blocked)


@dataclass(frozen=True)
class Message:
    """One message for a customer: where it goes and what it says."""

    subscription_id: int
    customer_id: int
    bot_token: str
    chat_id: int
    text: str
    blocked: bool  # the customer blocked the bot: do not even try


# -- Reminders ---------------------------------------------------------------------------------


def _reminder_due_clause(now: datetime):
    return (
        Subscription.ended_at.is_(None),
        Subscription.ends_at.is_not(None),
        Subscription.ends_at > now,
        Subscription.ends_at <= now + REMINDER_LEAD,
        or_(
            Subscription.reminded_for_ends_at.is_(None),
            Subscription.reminded_for_ends_at != Subscription.ends_at,
            # Claimed for this end but never settled: the claimant died or asked to retry.
            and_(
                Subscription.reminder_sent_at.is_(None),
                Subscription.reminder_error.is_(None),
                Subscription.reminder_lease_until <= now,
            ),
        ),
    )


def due_reminders(session: Session, now: datetime, limit: int = 1000) -> list[tuple[int, datetime]]:
    """(subscription id, end) of reminders to send now, soonest end first.

    Served by the partial index on ``ends_at`` of open subscriptions: a range scan over the next
    24 hours, however many subscriptions exist.
    """
    query = (
        select(Subscription.id, Subscription.ends_at)
        .where(*_reminder_due_clause(now))
        .order_by(Subscription.ends_at)
        .limit(limit)
    )
    return [(row.id, row.ends_at) for row in session.execute(query)]


def due_reminder_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Subscriptions ending within 24 h whose current end has not been reminded of yet."""
    return [sub_id for sub_id, _ in due_reminders(session, now, limit)]


def claim_reminder(session: Session, subscription_id: int, now: datetime) -> bool:
    """Take the reminder of the subscription's current end until ``now + LEASE``.

    ``True`` for one caller only: a conditional UPDATE, so two sweeps or a duplicated job agree
    on a single sender. The caller commits before sending and settles with the same ``now``.
    """
    claimed = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, *_reminder_due_clause(now))
        .values(
            reminded_for_ends_at=Subscription.ends_at,
            reminder_sent_at=None,
            reminder_error=None,
            reminder_lease_until=now + LEASE,
        )
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def reminder_message(session: Session, subscription_id: int, now: datetime) -> Message:
    """The reminder of a claimed subscription, with the plan's renewal text."""
    subscription = session.get(Subscription, subscription_id, populate_existing=True)
    plan = subscription.plan
    lang, tz, custom = _voice(session, subscription)
    text = notices.reminder_text(
        plan.project.name,
        plan.name,
        subscription.ends_at,
        now,
        plan.renewal_text,
        lang=lang,
        tz=tz,
        custom=custom.get("renewal"),
        first_name=subscription.customer.first_name,
    )
    return _message(subscription, text)


def settle_reminder(
    session: Session, subscription_id: int, claimed_at: datetime, outcome: Outcome, now: datetime
) -> bool:
    """Record how the reminder claimed at ``claimed_at`` went; ``False`` if the claim was lost."""
    settled = _settle(session, "reminder", subscription_id, claimed_at, outcome, now)
    if settled and outcome.status == "done":
        customer_id = session.scalar(
            select(Subscription.customer_id).where(Subscription.id == subscription_id)
        )
        funnel.record_subscription_step(session, subscription_id, customer_id, "reminded", "", now)
    return settled


def _settle(
    session: Session,
    message: str,
    subscription_id: int,
    claimed_at: datetime,
    outcome: Outcome,
    now: datetime,
) -> bool:
    """Settle a claimed customer message (``message`` is "reminder" or "end_notice"): sent,
    postponed (the lease moves to the retry time) or given up with its error. Only the holder
    of the lease taken at ``claimed_at`` may settle it."""
    lease = getattr(Subscription, f"{message}_lease_until")
    if outcome.status == "done":
        values = {f"{message}_sent_at": now, lease.key: None}
    elif outcome.status == "retry":
        values = {lease.key: outcome.retry_at}
    else:
        values = {f"{message}_error": outcome.error, lease.key: None}
    settled = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, lease == claimed_at + LEASE)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    _note_blocked(session, subscription_id, outcome, now)
    return settled.rowcount == 1


# -- The end -----------------------------------------------------------------------------------


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
    funnel.record_subscription_step(
        session, subscription.id, subscription.customer_id, "ended", "expired", now
    )
    decision = decide_removals(session, subscription, now)
    queue_removals(session, decision, subscription.project_id, "expired", now)
    audit.record(
        session,
        subscription.project_id,
        "access.ended",
        customer_id=subscription.customer_id,
        now=now,
        details={
            "plan": subscription.plan.name,
            "ends_at": subscription.ends_at.isoformat() if subscription.ends_at else None,
            "removals": len(decision.remove),
        },
    )
    return decision


# -- Removals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemovalWork:
    """Everything a job needs to take one customer out of one resource."""

    removal_id: int
    subscription_id: int | None
    bot_token: str
    chat_id: int
    resource_title: str
    telegram_user_id: int
    invite_link: str | None
    entitled: bool  # a subscription (e.g. a new activation) entitles them again: leave them in
    attempts: int
    project_id: int | None = None


def due_removal_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Pending removals whose (next) attempt is due, including ones a crashed job had claimed."""
    query = (
        select(Removal.id)
        .where(Removal.status == "pending", Removal.next_attempt_at <= now)
        .order_by(Removal.next_attempt_at, Removal.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def pending_removal_ids(session: Session, subscription_id: int) -> list[int]:
    query = select(Removal.id).where(
        Removal.subscription_id == subscription_id, Removal.status == "pending"
    )
    return list(session.scalars(query.order_by(Removal.id)))


def claim_removal(session: Session, removal_id: int, now: datetime) -> bool:
    """Take a due removal until ``now + LEASE`` and count the attempt; ``True`` for one caller."""
    claimed = session.execute(
        update(Removal)
        .where(
            Removal.id == removal_id,
            Removal.status == "pending",
            Removal.next_attempt_at <= now,
        )
        .values(attempts=Removal.attempts + 1, next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def removal_work(session: Session, removal_id: int, now: datetime) -> RemovalWork:
    removal = session.get(Removal, removal_id, populate_existing=True)
    resource = removal.resource
    membership = session.scalars(
        select(Membership).where(
            Membership.customer_id == removal.customer_id,
            Membership.resource_id == removal.resource_id,
        )
    ).first()
    return RemovalWork(
        removal_id=removal.id,
        project_id=removal.project_id,
        subscription_id=removal.subscription_id,
        bot_token=resource.project.bot_token,
        chat_id=resource.chat_id,
        resource_title=resource.title,
        telegram_user_id=removal.customer.telegram_user_id,
        invite_link=membership.invite_link if membership else None,
        entitled=is_entitled(session, removal.customer_id, removal.resource_id, now),
        attempts=removal.attempts,
    )


def settle_removal(
    session: Session, removal_id: int, claimed_at: datetime, outcome: Outcome, now: datetime
) -> bool:
    """Record how the removal claimed at ``claimed_at`` went; ``False`` if the claim was lost.

    ``done`` also closes the customer's membership and forgets its (revoked) invite link; a
    ``retry`` backs off, and gives up as ``failed`` after ``REMOVAL_MAX_ATTEMPTS``.
    """
    removal = session.scalars(
        select(Removal)
        .where(
            Removal.id == removal_id,
            Removal.status == "pending",
            Removal.next_attempt_at == claimed_at + LEASE,
        )
        .execution_options(populate_existing=True)
    ).first()
    if removal is None:
        return False
    removal.last_error = outcome.error
    if outcome.status in ("done", "skipped"):
        removal.status = outcome.status
        removal.done_at = now
        removal.next_attempt_at = None
        if outcome.status == "done":
            _close_membership(session, removal, now)
            _record_removal(session, removal, now)
    elif outcome.status == "retry" and removal.attempts < REMOVAL_MAX_ATTEMPTS:
        backoff = min(REMOVAL_BACKOFF * 2 ** (removal.attempts - 1), REMOVAL_MAX_BACKOFF)
        removal.next_attempt_at = max(outcome.retry_at or now, now + backoff)
    else:
        if outcome.status == "retry":
            removal.last_error = f"gave up after {removal.attempts} attempts: {outcome.error}"[:255]
        removal.status = "failed"
        removal.next_attempt_at = None
    if removal.status in ("done", "failed"):
        # The owner's activity lists removals, not only activations and rollbacks.
        audit.record(
            session,
            removal.project_id,
            f"removal.{removal.status}",
            customer_id=removal.customer_id,
            code_id=removal.code_id,
            now=now,
            details={
                "resource": removal.resource.title,
                "reason": removal.reason,
                "error": removal.last_error if removal.status == "failed" else None,
            },
        )
    session.flush()
    return True


def _record_removal(session: Session, removal: Removal, now: datetime) -> None:
    code = session.get(AccessCode, removal.code_id) if removal.code_id else None
    if removal.subscription_id is not None or code is not None:
        funnel.record_subscription_step(
            session,
            removal.subscription_id,
            removal.customer_id,
            "removed",
            removal.reason,
            now,
            code=code,
        )


def _close_membership(session: Session, removal: Removal, now: datetime) -> None:
    membership = session.scalars(
        select(Membership).where(
            Membership.customer_id == removal.customer_id,
            Membership.resource_id == removal.resource_id,
        )
    ).first()
    if membership is None:
        return
    membership.invite_link = None
    membership.invite_link_expires_at = None
    if membership.joined_at is not None and membership.left_at is None:
        membership.left_at = now


def retry_removal(session: Session, project_id: int, removal_id: int, now: datetime) -> bool:
    """The owner fixed the bot's rights: try a failed removal again from the start."""
    retried = session.execute(
        update(Removal)
        .where(
            Removal.id == removal_id,
            Removal.project_id == project_id,
            Removal.status == "failed",
        )
        .values(status="pending", attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return retried.rowcount == 1


# -- End notices -------------------------------------------------------------------------------


def _end_notice_due_clause(now: datetime):
    pending_removal = exists().where(
        Removal.subscription_id == Subscription.id, Removal.status == "pending"
    )
    renewal = aliased(Subscription)
    renewed = exists().where(
        renewal.customer_id == Subscription.customer_id,
        renewal.plan_id == Subscription.plan_id,
        renewal.ended_at.is_(None),
        renewal.id != Subscription.id,
    )
    return (
        Subscription.ended_at.is_not(None),
        Subscription.end_notice_sent_at.is_(None),
        Subscription.end_notice_error.is_(None),
        Subscription.ended_at >= now - END_NOTICE_WINDOW,
        Subscription.end_reason.in_(NOTIFIED_REASONS),
        or_(
            Subscription.end_notice_lease_until.is_(None),
            Subscription.end_notice_lease_until <= now,
        ),
        # Told once the removals are over, so the message can say where they were removed from.
        ~pending_removal,
        # Renewed in the meantime (a new code after the end): "your access ended" would mislead.
        ~renewed,
    )


def due_end_notice_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Ended (or rolled back) subscriptions whose customer is to be told now."""
    query = (
        select(Subscription.id)
        .where(*_end_notice_due_clause(now))
        .order_by(Subscription.ended_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_end_notice(session: Session, subscription_id: int, now: datetime) -> bool:
    """Take the end notice of a subscription until ``now + LEASE``; ``True`` for one caller."""
    claimed = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, *_end_notice_due_clause(now))
        .values(end_notice_lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def end_notice_message(session: Session, subscription_id: int, now: datetime) -> Message:
    """The end-of-access (or rollback) message, naming where the customer was removed from."""
    subscription = session.get(Subscription, subscription_id, populate_existing=True)
    plan = subscription.plan
    removals = session.scalars(
        select(Removal).where(Removal.subscription_id == subscription_id).order_by(Removal.id)
    ).all()
    removed = [r.resource.title for r in removals if r.status == "done"]
    touched = {r.resource_id for r in removals if r.status != "skipped"}
    kept = [r.title for r in plan.resources if r.id not in touched]
    lang, _, custom = _voice(session, subscription)
    text = notices.end_text(
        plan.project.name,
        plan.name,
        subscription.end_reason,
        removed,
        kept,
        plan.renewal_text,
        lang=lang,
        custom=custom.get("end"),
        first_name=subscription.customer.first_name,
        contact=owner_texts.contact(custom, plan.project),
    )
    return _message(subscription, text)


def settle_end_notice(
    session: Session, subscription_id: int, claimed_at: datetime, outcome: Outcome, now: datetime
) -> bool:
    """Record how the end notice claimed at ``claimed_at`` went; ``False`` if the claim was lost."""
    return _settle(session, "end_notice", subscription_id, claimed_at, outcome, now)


def end_notice_ready(session: Session, subscription_id: int, now: datetime) -> bool:
    query = select(Subscription.id).where(
        Subscription.id == subscription_id, *_end_notice_due_clause(now)
    )
    return session.scalar(query) is not None


# -- Shared ------------------------------------------------------------------------------------


def _voice(session: Session, subscription: Subscription) -> tuple[str, str, dict[str, str]]:
    """The customer's language, the project's time zone, and the owner's texts in that language."""
    project = subscription.plan.project
    lang = customer_language(subscription.customer, project)
    return lang, project.timezone, owner_texts.project_texts(session, project.id, lang)


def _message(subscription: Subscription, text: str) -> Message:
    customer = subscription.customer
    return Message(
        subscription_id=subscription.id,
        customer_id=customer.id,
        bot_token=subscription.plan.project.bot_token,
        chat_id=customer.telegram_user_id,
        text=text,
        blocked=customer.blocked_bot_at is not None,
    )


def _note_blocked(session: Session, subscription_id: int, outcome: Outcome, now: datetime) -> None:
    """A 403 'blocked' is recorded on the customer: no message is tried again until they return."""
    if not outcome.blocked:
        return
    customer_id = select(Subscription.customer_id).where(Subscription.id == subscription_id)
    session.execute(
        update(Customer)
        .where(Customer.id == customer_id.scalar_subquery(), Customer.blocked_bot_at.is_(None))
        .values(blocked_bot_at=now)
        .execution_options(synchronize_session=False)
    )


# -- What the dashboard shows ------------------------------------------------------------------


@dataclass(frozen=True)
class StatusLabel:
    """One fact about a subscription's lifecycle, for the owner.

    ``kind`` is stable for templates and tests; ``tone`` is ok, info, warning or error.
    """

    kind: str
    text: str
    tone: str


def removals_by_subscription(
    session: Session, subscription_ids: Iterable[int]
) -> dict[int, list[Removal]]:
    """The removals of many subscriptions at once (for a list of activations)."""
    ids = list(subscription_ids)
    result: dict[int, list[Removal]] = {sid: [] for sid in ids}
    if not ids:
        return result
    query = select(Removal).where(Removal.subscription_id.in_(ids)).order_by(Removal.id)
    for removal in session.scalars(query):
        result[removal.subscription_id].append(removal)
    return result


def subscription_status(
    subscription: Subscription, removals: Sequence[Removal], now: datetime
) -> list[StatusLabel]:
    """Reminder sent / access ended / removal pending or failed, as labels for the owner.

    ``removals`` are the subscription's Removal rows (see ``removals_by_subscription``).
    """
    labels: list[StatusLabel] = []
    sub = subscription
    if sub.ends_at is not None and sub.reminded_for_ends_at == sub.ends_at:
        if sub.reminder_sent_at is not None:
            at = notices.format_moment(sub.reminder_sent_at)
            labels.append(StatusLabel("reminder_sent", f"Reminder sent {at}", "ok"))
        elif sub.reminder_error:
            text = f"Reminder not delivered: {sub.reminder_error}"
            labels.append(StatusLabel("reminder_failed", text, "warning"))
        elif sub.reminder_lease_until is not None:
            labels.append(StatusLabel("reminder_sending", "Reminder being sent", "info"))
        else:
            text = "No reminder: access was given for less than a day"
            labels.append(StatusLabel("reminder_skipped", text, "info"))
    if sub.ended_at is not None:
        if sub.end_reason == "rolled_back":
            labels.append(StatusLabel("access_rolled_back", "Access withdrawn (rollback)", "info"))
        else:
            labels.append(StatusLabel("access_ended", "Access ended", "info"))
    elif sub.ends_at is not None and sub.ends_at <= now:
        labels.append(StatusLabel("access_ending", "Access ending", "info"))
    for removal in removals:
        title = removal.resource.title
        if removal.status == "pending":
            text = f"Removal from {title} pending"
            if removal.last_error:
                text += f" (retrying: {removal.last_error})"
            labels.append(StatusLabel("removal_pending", text, "warning"))
        elif removal.status == "failed":
            text = f"Removal from {title} failed: {removal.last_error or 'unknown error'}"
            labels.append(StatusLabel("removal_failed", text, "error"))
        elif removal.status == "done":
            labels.append(StatusLabel("removed", f"Removed from {title}", "ok"))
    if sub.end_notice_sent_at is not None:
        labels.append(StatusLabel("end_notice_sent", "Customer told", "ok"))
    elif sub.end_notice_error:
        text = f"End notice not delivered: {sub.end_notice_error}"
        labels.append(StatusLabel("end_notice_failed", text, "warning"))
    return labels
