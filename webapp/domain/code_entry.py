"""A customer entering a code in the bot: by activation link or typed, guarded by the counter."""

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.domain import attempts, funnel
from webapp.domain.activation import ActivationResult, activate_code
from webapp.domain.codes import ALPHABET, GROUP_LENGTH, GROUPS, lookup_key
from webapp.domain.customers import TelegramUser, upsert_customer
from webapp.domain.entitlements import active_subscriptions_clause
from webapp.domain.errors import ActivationRefused, NotFound, UnknownCode
from webapp.domain.memberships import ensure_memberships
from webapp.models import AccessCode, Activation, Customer, Plan, Resource, Subscription

AWAITING_CODE = "awaiting_code"
# Anything longer, or with other characters, cannot be a code (deep links allow 64 of these).
CODE_SHAPE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_TYPED_LENGTH = 100
GENERATED_CODE = re.compile(f"^[{ALPHABET}]{{{GROUPS * GROUP_LENGTH}}}$")


def enter_code(
    session: Session,
    redis: Redis,
    project_id: int,
    raw_code: str,
    user: TelegramUser,
    now: datetime,
) -> ActivationResult:
    """Activate ``raw_code`` for ``user``, unless they are waiting out too many wrong codes.

    An unknown (or rolled back, or malformed) code counts as a wrong attempt; the other refusals
    are about a real code and do not. Either way the funnel records the step (the caller commits
    refusals too, to keep it). On success the customer's typed-code step ends and their
    membership rows of the plan's resources exist, ready for invite links. The caller commits.
    """
    standing = attempts.standing(redis, project_id, user.id, now)
    limit = attempts.LIMIT
    if standing.swarm and not _has_activated(session, project_id, user.id):
        limit = attempts.NEWCOMER_LIMIT_IN_SWARM
    key = lookup_key(raw_code) if len(raw_code) <= MAX_TYPED_LENGTH else ""
    try:
        standing.check(now, limit)
        if not CODE_SHAPE.match(key):
            raise UnknownCode(raw_code[:MAX_TYPED_LENGTH])
        result = activate_code(session, project_id, raw_code.strip(), user, now)
    except ActivationRefused as exc:
        if isinstance(exc, UnknownCode):
            exc.wrong_attempts = attempts.record_wrong_attempt(redis, project_id, user.id, now)
            exc.attempts_allowed = limit
            # The owner hears of a swarm once per window (the caller sends the notice).
            exc.alert_owner = attempts.guessing_swarm(
                redis, project_id, now
            ) and attempts.claim_swarm_alert(redis, project_id, now)
        if CODE_SHAPE.match(key):
            funnel.record_refusal(session, project_id, raw_code.strip(), user, exc, now)
        raise
    funnel.record_activation(session, result, now)
    made = ensure_memberships(
        session, project_id, result.customer_id, [r.id for r in result.resources]
    )
    return dataclasses.replace(result, new_memberships=made)


def _has_activated(session: Session, project_id: int, telegram_user_id: int) -> bool:
    return (
        session.scalar(
            select(Activation.id)
            .join(Customer, Customer.id == Activation.customer_id)
            .where(Customer.project_id == project_id, Customer.telegram_user_id == telegram_user_id)
            .limit(1)
        )
        is not None
    )


def offered_plans(session: Session, project_id: int) -> list[Plan]:
    """The plans a customer can pick on /start: the project's plans that are not archived."""
    return list(
        session.scalars(
            select(Plan)
            .where(Plan.project_id == project_id, Plan.archived_at.is_(None))
            .order_by(Plan.id)
        )
    )


def begin_typed_code(
    session: Session, project_id: int, user: TelegramUser, plan_id: int
) -> tuple[Customer, Plan]:
    """The customer chose a plan and will type a code next; the step survives a restart."""
    plan = session.get(Plan, plan_id)
    if plan is None or plan.project_id != project_id or plan.archived_at is not None:
        raise NotFound("no such plan")
    customer = upsert_customer(session, project_id, user)
    customer.pending_step = AWAITING_CODE
    customer.pending_plan_id = plan.id
    return customer, plan


def looks_like_generated_code(text: str) -> bool:
    """Whether ``text`` has the exact shape of a generated code (e.g. pasted without /start)."""
    return len(text) <= MAX_TYPED_LENGTH and bool(GENERATED_CODE.match(lookup_key(text)))


def awaiting_code(session: Session, project_id: int, telegram_user_id: int) -> bool:
    step = session.scalar(
        select(Customer.pending_step).where(
            Customer.project_id == project_id, Customer.telegram_user_id == telegram_user_id
        )
    )
    return step == AWAITING_CODE


def clear_pending_step(session: Session, project_id: int, telegram_user_id: int) -> bool:
    """Forget the customer's pending step; whether there was one."""
    customer = session.scalars(
        select(Customer).where(
            Customer.project_id == project_id, Customer.telegram_user_id == telegram_user_id
        )
    ).first()
    if customer is None or customer.pending_step is None:
        return False
    customer.pending_step = None
    customer.pending_plan_id = None
    return True


@dataclass(frozen=True)
class ExistingAccess:
    """What a customer who already activated a code still has from its plan."""

    customer: Customer
    plan: Plan
    subscription: Subscription | None  # None: no longer active

    @property
    def resources(self) -> list[Resource]:
        return list(self.plan.resources) if self.subscription is not None else []


def existing_access(
    session: Session, project_id: int, raw_code: str, telegram_user_id: int, now: datetime
) -> ExistingAccess | None:
    """For a customer told "already activated": their access from that code's plan, if any.

    Lets a re-delivered /start (the same update after a crash) answer with the Join buttons again
    instead of a bare refusal.
    """
    code = session.scalars(
        select(AccessCode).where(
            AccessCode.project_id == project_id,
            AccessCode.lookup_key == lookup_key(raw_code),
            AccessCode.deleted_at.is_(None),
        )
    ).first()
    customer = session.scalars(
        select(Customer).where(
            Customer.project_id == project_id, Customer.telegram_user_id == telegram_user_id
        )
    ).first()
    if code is None or customer is None:
        return None
    subscription = session.scalars(
        select(Subscription)
        .where(
            Subscription.customer_id == customer.id,
            Subscription.plan_id == code.plan_id,
            *active_subscriptions_clause(now),
        )
        .order_by(Subscription.id.desc())
    ).first()
    return ExistingAccess(customer, code.plan, subscription)
