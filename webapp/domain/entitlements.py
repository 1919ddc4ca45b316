"""Who may be in which resource, and who must leave."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.models import Removal, Resource, Subscription, plan_resource


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
    """Split the plan's resources of an ending subscription into those to leave and to keep.

    ``ending`` names other subscriptions ending in the same operation, which entitle nobody.
    """
    still = entitled_resource_ids(
        session, subscription.customer_id, now, excluding={subscription.id, *ending}
    )
    remove = [r for r in subscription.plan.resources if r.id not in still]
    keep = [r for r in subscription.plan.resources if r.id in still]
    return RemovalDecision(subscription.customer_id, subscription.id, remove, keep)


def queue_removals(
    session: Session, decision: RemovalDecision, project_id: int, reason: str, now: datetime
) -> list[Removal]:
    """Write the removals of ``decision`` as pending work for the lifecycle jobs."""
    removals = [
        Removal(
            project_id=project_id,
            customer_id=decision.customer_id,
            resource_id=resource.id,
            subscription_id=decision.subscription_id,
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
