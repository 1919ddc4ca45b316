"""Bringing Telegram back to the database after updates were lost.

Telegram keeps undelivered updates for 24 hours. After a longer outage of the bot the joins and
leaves of that time are gone: used one-person links stay unrevoked (and work again once their
member leaves), and people whose access ended meanwhile stay in. The reconciler asks Telegram
(``getChatMember``) about every customer Admit knows in connection with a resource — everyone
who was given a link there or holds (or held) a plan that includes it — and then the database,
still the source of truth, decides: missed joins and leaves are recorded, their links revoked,
and whoever is in without access gets a removal row like any other.

Strangers who never talked to the bot cannot be asked about (the Bot API lists no members); the
join-request mode (``Resource.join_by_request``) keeps them out in the first place.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from webapp import i18n
from webapp.domain import audit
from webapp.domain.entitlements import is_entitled
from webapp.domain.memberships import membership_for
from webapp.models import (
    Customer,
    Membership,
    Project,
    Removal,
    Resource,
    Subscription,
    plan_resource,
)

REMOVAL_REASON = "no_access"


@dataclass(frozen=True)
class Target:
    customer_id: int
    telegram_user_id: int


@dataclass(frozen=True)
class ReconcileWork:
    """What one reconcile of one resource needs from the database, as plain values."""

    resource_id: int
    project_id: int
    chat_id: int
    title: str
    bot_token: str
    owner_chat_id: int | None
    targets: list[Target]
    owner_language: str = "en"  # the report's language: the owner's account setting


def resources_to_reconcile(session: Session) -> list[int]:
    """Every resource of a live project that the bot administers."""
    return list(
        session.scalars(
            select(Resource.id)
            .join(Project, Project.id == Resource.project_id)
            .where(Project.deleted_at.is_(None), Resource.bot_is_admin.is_(True))
            .order_by(Resource.reconciled_at.is_not(None), Resource.reconciled_at, Resource.id)
        )
    )


def reconcile_work(session: Session, resource_id: int) -> ReconcileWork | None:
    """The customers to ask Telegram about for one resource; None if there is nothing to do."""
    resource = session.get(Resource, resource_id)
    if resource is None or not resource.bot_is_admin or resource.project.deleted_at is not None:
        return None
    with_membership = select(Membership.customer_id).where(Membership.resource_id == resource_id)
    with_plan = (
        select(Subscription.customer_id)
        .join(plan_resource, plan_resource.c.plan_id == Subscription.plan_id)
        .where(plan_resource.c.resource_id == resource_id)
    )
    customer_ids = union(with_membership, with_plan).subquery()
    rows = session.execute(
        select(Customer.id, Customer.telegram_user_id)
        .where(Customer.id.in_(select(customer_ids.c[0])))
        .order_by(Customer.id)
    ).all()
    project = resource.project
    return ReconcileWork(
        resource_id=resource.id,
        project_id=project.id,
        chat_id=resource.chat_id,
        title=resource.title,
        bot_token=project.bot_token,
        owner_chat_id=project.owner.telegram_user_id,
        targets=[Target(customer_id, user_id) for customer_id, user_id in rows],
        owner_language=i18n.resolve(project.owner.language),
    )


@dataclass
class ReconcileReport:
    """What one reconcile changed; ``links_to_revoke`` and ``removal_ids`` are for the caller."""

    title: str
    joins: list[str] = field(default_factory=list)
    leaves: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    links_to_revoke: list[str] = field(default_factory=list)
    removal_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.joins or self.leaves or self.removed or self.links_to_revoke)


def apply_observations(
    session: Session, resource_id: int, present: dict[int, bool], now: datetime
) -> ReconcileReport:
    """Bring the database in line with who Telegram says is in the chat (customer id → in?).

    A join nobody recorded is recorded and its one-person link forgotten (to revoke: it would let
    someone else in once they leave); a leave likewise. Anyone in without access gets a pending
    removal, carried out by the removal jobs like any other.
    """
    resource = session.get(Resource, resource_id)
    report = ReconcileReport(resource.title)
    for customer_id, is_in in present.items():
        customer = session.get(Customer, customer_id)
        membership = session.scalars(
            select(Membership).where(
                Membership.customer_id == customer_id, Membership.resource_id == resource_id
            )
        ).first()
        recorded_in = (
            membership is not None
            and membership.joined_at is not None
            and membership.left_at is None
        )
        if is_in and not recorded_in:
            membership = membership or membership_for(
                session, resource.project_id, customer_id, resource_id
            )
            membership.joined_at = now
            membership.left_at = None
            report.joins.append(customer.display_name)
            _forget_link(membership, resource, report)
        elif not is_in and recorded_in:
            membership.left_at = now
            report.leaves.append(customer.display_name)
            _forget_link(membership, resource, report)
        if is_in and not is_entitled(session, customer_id, resource_id, now):
            removal_id = _removal_for(session, resource, customer_id, now)
            if removal_id is not None:
                report.removal_ids.append(removal_id)
                report.removed.append(customer.display_name)
    resource.reconciled_at = now
    if report.changed:
        audit.record(
            session,
            resource.project_id,
            "resource.reconciled",
            now=now,
            details={
                "resource_id": resource.id,
                "title": resource.title,
                "joins": len(report.joins),
                "leaves": len(report.leaves),
                "removals": len(report.removed),
                "links_revoked": len(report.links_to_revoke),
            },
        )
    session.flush()
    return report


def _forget_link(membership: Membership, resource: Resource, report: ReconcileReport) -> None:
    if membership.invite_link and not resource.join_by_request:
        report.links_to_revoke.append(membership.invite_link)
        membership.invite_link = None
        membership.invite_link_expires_at = None


def _removal_for(session: Session, resource: Resource, customer_id: int, now: datetime):
    """A new pending removal, or None if one is already under way."""
    pending = session.scalars(
        select(Removal.id).where(
            Removal.customer_id == customer_id,
            Removal.resource_id == resource.id,
            Removal.status == "pending",
        )
    ).first()
    if pending is not None:
        return None
    removal = Removal(
        project_id=resource.project_id,
        customer_id=customer_id,
        resource_id=resource.id,
        reason=REMOVAL_REASON,
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(removal)
    session.flush()
    return removal.id
