"""A project's members: everyone with access now or recently, what let them in, where they are.

A member is a customer with at least one subscription. Their state in each chat comes from the
rows that record it (membership, removal), never from a guess: "link not delivered" is the flag
the join-link step writes when Telegram would not make a link.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, cast, exists, or_, select
from sqlalchemy.orm import Session, joinedload

from webapp.domain import audit, funnel
from webapp.domain.customers import lock_customer
from webapp.domain.entitlements import RemovalDecision, decide_removals, queue_removals
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.ownership import owned
from webapp.domain.periods import period_end
from webapp.i18n import D_, Worded, joined_names
from webapp.models import (
    AccessCode,
    Activation,
    AuditEvent,
    Customer,
    Membership,
    Plan,
    Removal,
    Resource,
    Subscription,
)

ENDING_SOON = timedelta(days=7)
MEMBERS_LIMIT = 200
STATES = {
    "active": D_("Active"),
    "ending": D_("Ending within 7 days"),
    "ended": D_("Ended"),
    "removal_failed": D_("Removal failed"),
}


@dataclass
class ChatState:
    resource: Resource
    state: str  # joined, link sent, link not delivered, removed, removal pending, removal failed,
    #             left, not joined
    detail: str | None = None
    removal: Removal | None = None


@dataclass
class MemberRow:
    customer: Customer
    subscriptions: list[Subscription] = field(default_factory=list)
    codes: list[AccessCode] = field(default_factory=list)
    chats: list[ChatState] = field(default_factory=list)

    def active(self, now: datetime) -> bool:
        return any(s.is_active(now) for s in self.subscriptions)

    def ends_at(self, now: datetime) -> datetime | None:
        """The latest end among active subscriptions (``None`` for lifetime or no access)."""
        active = [s for s in self.subscriptions if s.is_active(now)]
        if not active or any(s.ends_at is None for s in active):
            return None
        return max(s.ends_at for s in active)

    def is_lifetime(self, now: datetime) -> bool:
        return any(s.is_active(now) and s.ends_at is None for s in self.subscriptions)


def _state_clause(state: str | None, now: datetime):
    active = exists().where(
        Subscription.customer_id == Customer.id,
        Subscription.ended_at.is_(None),
        or_(Subscription.ends_at.is_(None), Subscription.ends_at > now),
    )
    if state is None:
        return exists().where(Subscription.customer_id == Customer.id)
    if state == "active":
        return active
    if state == "ending":
        return exists().where(
            Subscription.customer_id == Customer.id,
            Subscription.ended_at.is_(None),
            Subscription.ends_at > now,
            Subscription.ends_at <= now + ENDING_SOON,
        )
    if state == "ended":
        return exists().where(Subscription.customer_id == Customer.id) & ~active
    if state == "removal_failed":
        return exists().where(Removal.customer_id == Customer.id, Removal.status == "failed")
    raise ValueError(f"unknown state {state!r}")


def list_members(
    session: Session,
    project_id: int,
    now: datetime,
    *,
    search: str = "",
    state: str | None = None,
    limit: int = MEMBERS_LIMIT,
) -> list[MemberRow]:
    """Members of the project, newest first, matching ``search`` (a name, an @username or a
    Telegram id) and ``state`` (one of ``STATES``)."""
    query = select(Customer).where(Customer.project_id == project_id, _state_clause(state, now))
    search = search.strip()
    if search:
        term = search.lstrip("@").lower()
        like = f"%{term}%"
        conditions = [
            Customer.username.ilike(like),
            Customer.first_name.ilike(like),
            Customer.last_name.ilike(like),
            (Customer.first_name + " " + Customer.last_name).ilike(like),
        ]
        if term.isdigit():
            conditions.append(cast(Customer.telegram_user_id, String) == term)
        query = query.where(or_(*conditions))
    customers = list(session.scalars(query.order_by(Customer.id.desc()).limit(limit)))
    return _rows(session, customers)


def _rows(session: Session, customers: list[Customer]) -> list[MemberRow]:
    rows = {c.id: MemberRow(c) for c in customers}
    if not rows:
        return []
    ids = list(rows)
    for sub in session.scalars(
        select(Subscription)
        .where(Subscription.customer_id.in_(ids))
        .options(joinedload(Subscription.plan))
        .order_by(Subscription.id)
    ):
        rows[sub.customer_id].subscriptions.append(sub)
    seen: dict[int, set[int]] = defaultdict(set)
    for customer_id, code in session.execute(
        select(Activation.customer_id, AccessCode)
        .join(AccessCode, AccessCode.id == Activation.code_id)
        .where(Activation.customer_id.in_(ids))
        .order_by(Activation.activated_at)
    ):
        if code.id not in seen[customer_id]:
            seen[customer_id].add(code.id)
            rows[customer_id].codes.append(code)
    latest_removal: dict[tuple[int, int], Removal] = {}
    for removal in session.scalars(
        select(Removal)
        .where(Removal.customer_id.in_(ids))
        .options(joinedload(Removal.resource))
        .order_by(Removal.id)
    ):
        latest_removal[(removal.customer_id, removal.resource_id)] = removal
    places: dict[tuple[int, int], Membership] = {
        (m.customer_id, m.resource_id): m
        for m in session.scalars(
            select(Membership)
            .where(Membership.customer_id.in_(ids))
            .options(joinedload(Membership.resource))
        )
    }
    for row in rows.values():
        # Every chat they were given a place in, removed from, or hold a plan of.
        resources: dict[int, Resource] = {}
        for (customer_id, _), membership in places.items():
            if customer_id == row.customer.id:
                resources[membership.resource_id] = membership.resource
        for (customer_id, _), removal in latest_removal.items():
            if customer_id == row.customer.id:
                resources[removal.resource_id] = removal.resource
        for sub in row.subscriptions:
            for resource in sub.plan.resources:
                resources.setdefault(resource.id, resource)
        for resource_id in sorted(resources):
            key = (row.customer.id, resource_id)
            row.chats.append(
                _chat_state(resources[resource_id], places.get(key), latest_removal.get(key))
            )
    return [rows[c.id] for c in customers]


def _chat_state(
    resource: Resource, membership: Membership | None, removal: Removal | None
) -> ChatState:
    # A removal older than the latest join was followed by a new activation: it is history.
    current = removal is not None and (
        membership is None
        or membership.joined_at is None
        or removal.created_at >= membership.joined_at
    )
    if current:
        if removal.status == "failed":
            return ChatState(resource, "removal failed", removal.last_error, removal)
        if removal.status == "pending":
            return ChatState(resource, "removal pending", None, removal)
        if removal.status == "done":
            return ChatState(resource, "removed", None, removal)
    if membership is None:
        return ChatState(resource, "not joined")
    if membership.joined_at is not None and membership.left_at is None:
        return ChatState(resource, "joined")
    if membership.left_at is not None:
        return ChatState(resource, "left")
    if membership.link_undelivered_at is not None:
        return ChatState(resource, "link not delivered", membership.link_undelivered_reason)
    if membership.invite_link:
        return ChatState(resource, "link sent")
    return ChatState(resource, "not joined")


def owner_member(session: Session, owner_id: int, customer_id: int) -> Customer:
    """The customer if they belong to one of the owner's projects."""
    return owned(session, owner_id, Customer, customer_id)


def member_row(session: Session, customer: Customer) -> MemberRow:
    return _rows(session, [customer])[0]


def member_history(session: Session, customer: Customer) -> list[AuditEvent]:
    """What happened to the customer, newest first (activations, undos, extensions, ends)."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.project_id == customer.project_id,
                AuditEvent.customer_id == customer.id,
            )
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        )
    )


def extend_member(
    session: Session,
    project_id: int,
    customer_id: int,
    plan_id: int,
    *,
    owner_id: int | None,
    now: datetime,
) -> Subscription:
    """Give the customer one more period of ``plan`` (a gift, or a payment taken offline).

    Extends their open subscription of the plan from its end (or from now, if it has passed),
    or opens a new one; lifetime stays lifetime.
    """
    customer = session.get(Customer, customer_id)
    if customer is None or customer.project_id != project_id:
        raise NotFound("no such customer")
    plan = session.get(Plan, plan_id)
    if plan is None or plan.project_id != project_id:
        raise InvalidInput("plan", D_("Choose one of this project's plans."))
    lock_customer(session, customer.id)
    subscription = session.scalars(
        select(Subscription)
        .where(
            Subscription.customer_id == customer.id,
            Subscription.plan_id == plan.id,
            Subscription.ended_at.is_(None),
        )
        .with_for_update()
    ).first()
    before = subscription.ends_at if subscription is not None else None
    if subscription is None:
        subscription = Subscription(
            project_id=project_id,
            customer_id=customer.id,
            plan_id=plan.id,
            started_at=now,
            ends_at=period_end(now, plan.period_unit, plan.period_count),
        )
        session.add(subscription)
    elif subscription.ends_at is not None:
        start = max(subscription.ends_at, now)
        subscription.ends_at = period_end(start, plan.period_unit, plan.period_count)
    session.flush()
    audit.record(
        session,
        project_id,
        "member.extended",
        owner_id=owner_id,
        customer_id=customer.id,
        now=now,
        details={
            "plan": plan.name,
            "ends_before": before.isoformat() if before else None,
            "ends_at": subscription.ends_at.isoformat() if subscription.ends_at else None,
        },
    )
    return subscription


@dataclass
class EndAccessEffects:
    ending: list[Subscription]
    decisions: list[RemovalDecision]
    removal_ids: list[int] = field(default_factory=list)

    def resources_affected(self) -> list[tuple[Resource, int]]:
        seen: dict[int, Resource] = {}
        for decision in self.decisions:
            for resource in decision.remove:
                seen[resource.id] = resource
        return [(r, 1) for r in seen.values()]

    def failing_removals(self) -> list[tuple[Resource, int]]:
        return [
            (r, n)
            for r, n in self.resources_affected()
            if not (r.bot_is_admin and r.can_restrict_members)
        ]

    def summary(self, done: bool = False) -> Worded:
        titles = [r.title for r, _ in self.resources_affected()]
        if not titles:
            return Worded(D_("They are not in any channel or group to be removed from."))
        names = joined_names(titles)
        if done:
            return Worded(D_("They are being removed from %(names)s."), names=names)
        return Worded(D_("They will be removed from %(names)s."), names=names)


def preview_end_access(session: Session, project_id: int, customer_id: int, now: datetime):
    """What ``end_access`` would do now, without changing anything."""
    return _end_effects(session, project_id, customer_id, now)


def end_access(
    session: Session, project_id: int, customer_id: int, *, owner_id: int | None, now: datetime
) -> EndAccessEffects:
    """End every active subscription of the customer now and queue their removals."""
    lock_customer(session, customer_id)
    effects = _end_effects(session, project_id, customer_id, now)
    if not effects.ending:
        raise InvalidInput("customer", D_("They have no access to end."))
    for subscription in effects.ending:
        subscription.ended_at = now
        subscription.end_reason = "ended_by_owner"
        funnel.record_subscription_step(
            session, subscription.id, subscription.customer_id, "ended", "ended_by_owner", now
        )
    removals = [
        removal
        for decision in effects.decisions
        for removal in queue_removals(session, decision, project_id, "ended_by_owner", now)
    ]
    audit.record(
        session,
        project_id,
        "member.access_ended",
        owner_id=owner_id,
        customer_id=customer_id,
        now=now,
        details={"subscriptions": len(effects.ending), "summary": effects.summary(done=True)},
    )
    session.flush()
    effects.removal_ids = [r.id for r in removals]
    return effects


def _end_effects(session: Session, project_id: int, customer_id: int, now: datetime):
    customer = session.get(Customer, customer_id)
    if customer is None or customer.project_id != project_id:
        raise NotFound("no such customer")
    ending = list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.customer_id == customer_id,
                Subscription.ended_at.is_(None),
                or_(Subscription.ends_at.is_(None), Subscription.ends_at > now),
            )
            .order_by(Subscription.id)
            .execution_options(populate_existing=True)
        )
    )
    ids = {s.id for s in ending}
    decisions = [decide_removals(session, s, now, ending=ids) for s in ending]
    return EndAccessEffects(ending, decisions)
