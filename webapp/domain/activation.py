"""Activating a code: the rules of PRODUCT.md, at most ``max_activations`` under any concurrency.

It is the bot's hot path (every ``/start <code>``), so it is written in Core statements on the
caller's session, one round trip per step, and hands back plain values: no ORM objects are
loaded, tracked or flushed unless a caller asks the result for one.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp.domain import audit
from webapp.domain.codes import lookup_key
from webapp.domain.core_sql import connection_of, expire_loaded
from webapp.domain.customers import TelegramUser, current_customer, lock_customer
from webapp.domain.errors import (
    AlreadyActivated,
    CodeExpired,
    CodePaused,
    CodeUsedUp,
    UnknownCode,
)
from webapp.domain.lifecycle import REMINDER_LEAD
from webapp.domain.periods import period_end
from webapp.models import (
    AccessCode,
    Activation,
    Customer,
    Plan,
    Resource,
    Subscription,
    plan_resource,
)

codes, plans, resources = AccessCode.__table__, Plan.__table__, Resource.__table__
subscriptions, activations = Subscription.__table__, Activation.__table__
customers = Customer.__table__


@dataclass(frozen=True)
class PlanResource:
    id: int
    title: str
    chat_id: int
    bot_is_admin: bool
    join_by_request: bool


@dataclass(frozen=True)
class ActivationResult:
    """What an activation did, as plain values. The rows themselves (``code``, ``plan``,
    ``customer``, ``subscription``, ``activation``) load from the session on first use."""

    session: Session = field(repr=False, compare=False)
    project_id: int
    code_id: int
    code_text: str
    batch_id: int | None
    max_activations: int
    activation_count: int
    plan_id: int
    plan_name: str
    resources: tuple[PlanResource, ...]
    customer_id: int
    subscription_id: int
    ends_at: datetime | None  # None: lifetime
    extended: bool
    # Membership ids by resource, of the rows this activation made (see ``enter_code``).
    new_memberships: dict[int, int] = field(default_factory=dict, compare=False)

    @property
    def activations_left(self) -> int:
        return self.max_activations - self.activation_count

    @property
    def code(self) -> AccessCode:
        return self.session.get(AccessCode, self.code_id)

    @property
    def plan(self) -> Plan:
        return self.session.get(Plan, self.plan_id)

    @property
    def customer(self) -> Customer:
        return self.session.get(Customer, self.customer_id)

    @property
    def subscription(self) -> Subscription:
        return self.session.get(Subscription, self.subscription_id)

    @property
    def activation(self) -> Activation:
        return self.session.scalars(
            select(Activation).where(
                Activation.code_id == self.code_id, Activation.customer_id == self.customer_id
            )
        ).one()


# The statements, built once: building a statement costs about as much CPU as running it.
CODE_TO_ACTIVATE = (
    # The code, its plan, the plan's resources and the customer if known, in one round trip:
    # every activation needs them.
    select(
        codes.c.id, codes.c.code, codes.c.batch_id, codes.c.max_activations, codes.c.expires_at,
        codes.c.paused_at, plans.c.id.label("plan_id"), plans.c.name.label("plan_name"),
        plans.c.period_unit, plans.c.period_count, resources.c.id.label("resource_id"),
        resources.c.title, resources.c.chat_id, resources.c.bot_is_admin,
        resources.c.join_by_request, customers.c.id.label("customer_id"), customers.c.first_name,
        customers.c.last_name, customers.c.username, customers.c.language_code,
    )
    .join(plans, plans.c.id == codes.c.plan_id)
    .outerjoin(plan_resource, plan_resource.c.plan_id == plans.c.id)
    .outerjoin(resources, resources.c.id == plan_resource.c.resource_id)
    .outerjoin(
        customers,
        (customers.c.project_id == codes.c.project_id)
        & (customers.c.telegram_user_id == bindparam("telegram_user_id")),
    )
    .where(
        codes.c.project_id == bindparam("project_id"),
        codes.c.lookup_key == bindparam("lookup_key"),
        codes.c.deleted_at.is_(None),
    )
    .order_by(resources.c.id)
)
COUNT_ACTIVATION = (
    update(codes)
    .where(
        codes.c.id == bindparam("code_id"),
        codes.c.deleted_at.is_(None),
        # A pause committed after the read above still wins.
        codes.c.paused_at.is_(None),
        codes.c.activation_count < codes.c.max_activations,
    )
    .values(activation_count=codes.c.activation_count + 1)
    # RETURNING hands back the new count, so the code need not be read again.
    .returning(codes.c.activation_count)
)
UNCOUNT_ACTIVATION = (
    update(codes)
    .where(codes.c.id == bindparam("code_id"))
    .values(activation_count=codes.c.activation_count - 1)
)
ACTIVATED_BEFORE = exists().where(
    activations.c.code_id == bindparam("code_id"),
    activations.c.customer_id == bindparam("customer_id"),
)
HAS_ACTIVATED = select(ACTIVATED_BEFORE)
CUSTOMER_AFTER_LOCK = select(
    ACTIVATED_BEFORE,
    customers.c.pending_step.is_not(None) | customers.c.pending_plan_id.is_not(None),
).where(customers.c.id == bindparam("customer_id"))
WHY_NOT_COUNTED = select(codes.c.deleted_at, codes.c.paused_at).where(
    codes.c.id == bindparam("code_id")
)
OPEN_SUBSCRIPTION = (
    select(subscriptions.c.id, subscriptions.c.ends_at)
    .where(
        subscriptions.c.customer_id == bindparam("customer_id"),
        subscriptions.c.plan_id == bindparam("plan_id"),
        subscriptions.c.ended_at.is_(None),
    )
    .order_by(subscriptions.c.id.desc())
    .with_for_update()
)
# Sets the columns it is given: ends_at, and reminded_for_ends_at when the end is near.
EXTEND_SUBSCRIPTION = update(subscriptions).where(
    subscriptions.c.id == bindparam("subscription_id")
)
NEW_ACTIVATION = insert(activations)
END_PENDING_STEP = (
    update(customers)
    .where(customers.c.id == bindparam("customer_id"))
    .values(pending_step=None, pending_plan_id=None)
)


def activate_code(
    session: Session, project_id: int, raw_code: str, user: TelegramUser, now: datetime
) -> ActivationResult:
    """Activate ``raw_code`` of the project for ``user``: open or extend their subscription.

    Raises one ``ActivationRefused`` subclass per refusal; a refusal leaves the database as it was
    (apart from the customer's first-contact row). The count is taken with a conditional UPDATE
    (``activation_count < max_activations``), which the database applies atomically per row, and
    the customer's row lock then serialises one customer's activations, so concurrent taps can
    never oversell a code nor count one customer twice (the (code, customer) unique constraint
    stays as the last word). Activating ends the customer's typed-code step, if any. The
    caller commits.
    """
    db = connection_of(session)
    rows = db.execute(
        CODE_TO_ACTIVATE,
        {"project_id": project_id, "lookup_key": lookup_key(raw_code), "telegram_user_id": user.id},
    ).all()
    if not rows:
        raise UnknownCode(raw_code)
    code = rows[0]
    if code.expires_at is not None and now >= code.expires_at:
        raise CodeExpired(code.code)
    if code.paused_at is not None:
        raise CodePaused(code.code)

    customer_id, first_contact = current_customer(
        db, project_id, user, code if code.customer_id is not None else None
    )
    expire_loaded(session, (Customer, customer_id))  # a refusal below keeps the new names
    ids = {"code_id": code.id, "customer_id": customer_id}
    new_count = db.execute(COUNT_ACTIVATION, {"code_id": code.id}).scalar()
    if new_count is None:
        # "Already activated by you" comes first, even for a used-up code.
        if db.scalar(HAS_ACTIVATED, ids):
            raise AlreadyActivated(code.code)
        raise _why_not_counted(db, code.id)
    # Serialises one customer's activations (PostgreSQL row lock; SQLite has one writer), so two
    # codes of the same plan tapped at once extend one subscription twice instead of racing, and
    # the same code tapped twice at once is seen activated by the second tap, read after the lock.
    # A customer made in this transaction needs neither: nothing of theirs exists yet, and their
    # other taps wait on the new row until this commits, then take this path.
    already = pending_step = False
    if not first_contact:
        lock_customer(db, customer_id)
        already, pending_step = db.execute(CUSTOMER_AFTER_LOCK, ids).one()
    if already:
        # Counted, but theirs already: the count goes back in this same transaction.
        db.execute(UNCOUNT_ACTIVATION, {"code_id": code.id})
        raise AlreadyActivated(code.code)
    subscription_id, ends_at, extended, ends_before = _open_or_extend(
        db, project_id, customer_id, code, now
    )
    db.execute(
        NEW_ACTIVATION,
        {
            "project_id": project_id,
            "code_id": code.id,
            "customer_id": customer_id,
            "subscription_id": subscription_id,
            "activated_at": now,
            "ends_before": ends_before,
            "ends_after": ends_at,
            "created_subscription": not extended,
        },
    )
    if pending_step:
        # The code they were asked to type has come (or a link made it moot): the step ends.
        db.execute(END_PENDING_STEP, {"customer_id": customer_id})
    audit.record(
        session,
        project_id,
        "code.activated",
        code_id=code.id,
        customer_id=customer_id,
        now=now,
        details={
            "code": code.code,
            "telegram_user_id": user.id,
            "username": user.username,
            "plan": code.plan_name,
            "ends_at": ends_at.isoformat() if ends_at else None,
            "extended": extended,
        },
    )
    expire_loaded(session, (AccessCode, code.id), (Customer, customer_id),
                  (Subscription, subscription_id))
    return ActivationResult(
        session=session,
        project_id=project_id,
        code_id=code.id,
        code_text=code.code,
        batch_id=code.batch_id,
        max_activations=code.max_activations,
        activation_count=new_count,
        plan_id=code.plan_id,
        plan_name=code.plan_name,
        resources=tuple(
            PlanResource(r.resource_id, r.title, r.chat_id, r.bot_is_admin, r.join_by_request)
            for r in rows
            if r.resource_id is not None
        ),
        customer_id=customer_id,
        subscription_id=subscription_id,
        ends_at=ends_at,
        extended=extended,
    )


def _why_not_counted(db: Connection, code_id: int) -> Exception:
    deleted_at, paused_at = db.execute(WHY_NOT_COUNTED, {"code_id": code_id}).one()
    if deleted_at is not None:
        return UnknownCode(str(code_id))
    if paused_at is not None:
        return CodePaused(str(code_id))
    return CodeUsedUp(str(code_id))


def _open_or_extend(
    db: Connection, project_id: int, customer_id: int, code, now: datetime
) -> tuple[int, datetime | None, bool, datetime | None]:
    """The customer's open subscription to the code's plan, extended by one period, or a new one.

    Returns the subscription's id and end, whether it was extended, and the moment this
    activation's period starts from (so a rollback can take back exactly that much).
    """
    # Most activations open the plan for the customer: try that first. The partial unique index
    # (one open subscription per customer and plan) turns it into nothing when one is open.
    ends_at = period_end(now, code.period_unit, code.period_count)
    subscription_id = db.execute(
        _NEW_SUBSCRIPTION[db.dialect.name],
        {"project_id": project_id, "customer_id": customer_id, "plan_id": code.plan_id,
         "started_at": now, **_end_values(ends_at, now)},
    ).scalar()
    if subscription_id is not None:
        return subscription_id, ends_at, False, now
    current = db.execute(
        OPEN_SUBSCRIPTION, {"customer_id": customer_id, "plan_id": code.plan_id}
    ).first()
    if current.ends_at is None:
        return current.id, None, True, None  # lifetime stays lifetime
    # An end that passed before the sweep got to it is not extended from the past.
    start = max(current.ends_at, now)
    ends_at = period_end(start, code.period_unit, code.period_count)
    db.execute(
        EXTEND_SUBSCRIPTION, {"subscription_id": current.id, **_end_values(ends_at, now)}
    )
    return current.id, ends_at, True, start


def _end_values(ends_at: datetime | None, now: datetime) -> dict:
    values = {"ends_at": ends_at}
    if ends_at is not None and ends_at - now <= REMINDER_LEAD:
        # The confirmation has just told them the end; "ends tomorrow" minutes later would
        # only repeat it. Marking this end as reminded skips it.
        values["reminded_for_ends_at"] = ends_at
    return values


_NEW_SUBSCRIPTION = {
    name: insert(subscriptions)
    .on_conflict_do_nothing(
        index_elements=["customer_id", "plan_id"], index_where=subscriptions.c.ended_at.is_(None)
    )
    .returning(subscriptions.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
