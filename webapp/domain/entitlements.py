"""Who may be in which resource, and who must leave."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from webapp.domain.core_sql import connection_of
from webapp.models import Membership, Removal, Resource, Subscription, plan_resource


def active_subscriptions_clause(now: datetime):
    return (
        Subscription.ended_at.is_(None),
        or_(Subscription.ends_at.is_(None), Subscription.ends_at > now),
    )


def entitled_resource_ids(
    session: Session, customer_id: int, now: datetime, excluding: Iterable[int] = ()
) -> set[int]:
    """Resources the customer may stay in through active subscriptions other than ``excluding``."""
    query = (
        select(plan_resource.c.resource_id)
        .join(Subscription, Subscription.plan_id == plan_resource.c.plan_id)
        .where(Subscription.customer_id == customer_id, *active_subscriptions_clause(now))
    )
    excluded = list(excluding)
    if excluded:
        query = query.where(Subscription.id.not_in(excluded))
    return set(session.scalars(query))


@dataclass(frozen=True)
class Access:
    """A customer's access now: their active subscriptions and the resources these open."""

    subscription_ids: frozenset[int]
    resource_ids: frozenset[int]


subscriptions = Subscription.__table__
ACTIVE_ACCESS = (
    select(subscriptions.c.id, plan_resource.c.resource_id)
    # Outer: an active subscription to a plan without resources is still active.
    .outerjoin(plan_resource, plan_resource.c.plan_id == subscriptions.c.plan_id)
    .where(
        subscriptions.c.customer_id == bindparam("customer_id"),
        subscriptions.c.ended_at.is_(None),
        or_(subscriptions.c.ends_at.is_(None), subscriptions.c.ends_at > bindparam("now")),
    )
)


def active_access(session: Session, customer_id: int, now: datetime) -> Access:
    """``entitled_resource_ids`` and which subscriptions are active, in one round trip."""
    rows = connection_of(session).execute(
        ACTIVE_ACCESS, {"customer_id": customer_id, "now": now}
    ).all()
    return Access(
        frozenset(row.id for row in rows),
        frozenset(row.resource_id for row in rows if row.resource_id is not None),
    )


def is_entitled(session: Session, customer_id: int, resource_id: int, now: datetime) -> bool:
    return resource_id in entitled_resource_ids(session, customer_id, now)


@dataclass(frozen=True)
class RemovalDecision:
    """For one customer losing one subscription: where they must go, and where they may stay."""

    customer_id: int
    subscription_id: int
    remove: list[Resource]
    keep: list[Resource]


def decide_removals(
    session: Session, subscription: Subscription, now: datetime, ending: Iterable[int] = ()
) -> RemovalDecision:
    """Split the resources of an ending subscription into those to leave and to keep.

    The candidates are the plan's resources now and every resource the customer was given a
    place in (their memberships): a plan edited after the customer joined must not leave them
    in a chat it no longer covers. ``ending`` names other subscriptions ending in the same
    operation, which entitle nobody.
    """
    still = entitled_resource_ids(
        session, subscription.customer_id, now, excluding={subscription.id, *ending}
    )
    plan_resources = list(subscription.plan.resources)
    admitted = session.scalars(
        select(Resource)
        .join(Membership, Membership.resource_id == Resource.id)
        .where(Membership.customer_id == subscription.customer_id)
        .order_by(Resource.id)
    ).all()
    known = {r.id for r in plan_resources}
    candidates = plan_resources + [r for r in admitted if r.id not in known]
    remove = [r for r in candidates if r.id not in still]
    keep = [r for r in plan_resources if r.id in still]
    return RemovalDecision(subscription.customer_id, subscription.id, remove, keep)


def queue_removals(
    session: Session,
    decision: RemovalDecision,
    project_id: int,
    reason: str,
    now: datetime,
    code_id: int | None = None,
) -> list[Removal]:
    """Write the removals of ``decision`` as pending work for the lifecycle jobs.

    ``code_id`` names the code whose rollback caused them, so its page can still list them.
    """
    removals = [
        Removal(
            project_id=project_id,
            customer_id=decision.customer_id,
            resource_id=resource.id,
            subscription_id=decision.subscription_id,
            code_id=code_id,
            reason=reason,
            status="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        for resource in decision.remove
    ]
    session.add_all(removals)
    return removals
