"""Activating a code: the rules of PRODUCT.md, at most ``max_activations`` under any concurrency."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from webapp.domain import audit
from webapp.domain.codes import lookup_key
from webapp.domain.customers import TelegramUser, upsert_customer
from webapp.domain.errors import (
    AlreadyActivated,
    CodeExpired,
    CodePaused,
    CodeUsedUp,
    UnknownCode,
)
from webapp.domain.lifecycle import REMINDER_LEAD
from webapp.domain.periods import period_end
from webapp.models import AccessCode, Activation, Customer, Plan, Subscription


@dataclass(frozen=True)
class ActivationResult:
    activation: Activation
    code: AccessCode
    plan: Plan
    customer: Customer
    subscription: Subscription
    extended: bool

    @property
    def activations_left(self) -> int:
        return self.code.max_activations - self.code.activation_count


def activate_code(
    session: Session, project_id: int, raw_code: str, user: TelegramUser, now: datetime
) -> ActivationResult:
    """Activate ``raw_code`` of the project for ``user``: open or extend their subscription.

    Raises one ``ActivationRefused`` subclass per refusal; a refusal leaves the database as it was
    (apart from the customer's first-contact row). The count is taken with a conditional UPDATE
    (``activation_count < max_activations``), which the database applies atomically per row, and
    the (code, customer) unique constraint stops one customer twice, so concurrent taps can never
    oversell a code; the caller commits.
    """
    key = lookup_key(raw_code)
    code = session.scalars(
        select(AccessCode)
        .where(
            AccessCode.project_id == project_id,
            AccessCode.lookup_key == key,
            AccessCode.deleted_at.is_(None),
        )
        # The plan comes in the same round trip: every activation needs it.
        .options(joinedload(AccessCode.plan, innerjoin=True))
    ).first()
    if code is None:
        raise UnknownCode(raw_code)
    if code.expires_at is not None and now >= code.expires_at:
        raise CodeExpired(code.code)
    if code.paused_at is not None:
        raise CodePaused(code.code)

    customer = upsert_customer(session, project_id, user)

    try:
        with session.begin_nested():
            # RETURNING hands back the new count, so the code need not be read again.
            new_count = session.execute(
                update(AccessCode)
                .where(
                    AccessCode.id == code.id,
                    AccessCode.deleted_at.is_(None),
                    # A pause committed after the read above still wins.
                    AccessCode.paused_at.is_(None),
                    AccessCode.activation_count < AccessCode.max_activations,
                )
                .values(activation_count=AccessCode.activation_count + 1)
                .returning(AccessCode.activation_count)
                .execution_options(synchronize_session=False)
            ).scalar()
            if new_count is None:
                # "Already activated by you" comes first, even for a used-up code. On the
                # counted path the (code, customer) unique constraint says it instead.
                if _has_activated(session, code.id, customer.id):
                    raise AlreadyActivated(code.code)
                raise _why_not_counted(session, code.id)
            # Serialises one customer's activations (PostgreSQL row lock), so two codes of the
            # same plan tapped at once extend one subscription twice instead of racing.
            session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
            subscription, extended, ends_before = _open_or_extend(session, customer, code, now)
            if subscription.ends_at is not None and subscription.ends_at - now <= REMINDER_LEAD:
                # The confirmation has just told them the end; "ends tomorrow" minutes later
                # would only repeat it. Marking this end as reminded skips it.
                subscription.reminded_for_ends_at = subscription.ends_at
            activation = Activation(
                project_id=project_id,
                code_id=code.id,
                customer_id=customer.id,
                subscription_id=subscription.id,
                activated_at=now,
                ends_before=ends_before,
                ends_after=subscription.ends_at,
                created_subscription=not extended,
            )
            session.add(activation)
            session.flush()
    except IntegrityError as exc:
        raise AlreadyActivated(code.code) from exc

    set_committed_value(code, "activation_count", new_count)
    audit.record(
        session,
        project_id,
        "code.activated",
        code_id=code.id,
        customer_id=customer.id,
        now=now,
        details={
            "code": code.code,
            "telegram_user_id": user.id,
            "username": user.username,
            "plan": code.plan.name,
            "ends_at": subscription.ends_at.isoformat() if subscription.ends_at else None,
            "extended": extended,
        },
    )
    return ActivationResult(activation, code, code.plan, customer, subscription, extended)


def _has_activated(session: Session, code_id: int, customer_id: int) -> bool:
    return (
        session.scalar(
            select(Activation.id).where(
                Activation.code_id == code_id, Activation.customer_id == customer_id
            )
        )
        is not None
    )


def _why_not_counted(session: Session, code_id: int) -> Exception:
    deleted_at, paused_at = session.execute(
        select(AccessCode.deleted_at, AccessCode.paused_at).where(AccessCode.id == code_id)
    ).one()
    if deleted_at is not None:
        return UnknownCode(str(code_id))
    if paused_at is not None:
        return CodePaused(str(code_id))
    return CodeUsedUp(str(code_id))


def _open_or_extend(
    session: Session, customer: Customer, code: AccessCode, now: datetime
) -> tuple[Subscription, bool, datetime | None]:
    """The customer's open subscription to the code's plan, extended by one period, or a new one.

    Returns the subscription, whether it was extended, and the moment this activation's period
    starts from (so a rollback can take back exactly that much).
    """
    plan = code.plan
    subscription = session.scalars(
        select(Subscription)
        .where(
            Subscription.customer_id == customer.id,
            Subscription.plan_id == plan.id,
            Subscription.ended_at.is_(None),
        )
        .order_by(Subscription.id.desc())
        .with_for_update()
    ).first()
    if subscription is None:
        subscription = Subscription(
            project_id=code.project_id,
            customer_id=customer.id,
            plan_id=plan.id,
            started_at=now,
            ends_at=period_end(now, plan.period_unit, plan.period_count),
        )
        session.add(subscription)
        session.flush()
        return subscription, False, now
    if subscription.ends_at is None:
        return subscription, True, None  # lifetime stays lifetime
    # An end that passed before the sweep got to it is not extended from the past.
    start = max(subscription.ends_at, now)
    subscription.ends_at = period_end(start, plan.period_unit, plan.period_count)
    return subscription, True, start
