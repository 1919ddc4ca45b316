"""The owner's activity feed: activations, rollbacks, pauses, ends and removals."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import AuditEvent, Customer, Project

FEED_ACTIONS = (
    "code.activated",
    "code.rolled_back",
    "activation.rolled_back",
    "code.paused",
    "code.resumed",
    "access.ended",
    "member.access_ended",
    "member.extended",
    "removal.done",
    "removal.failed",
)
PER_PAGE = 50


@dataclass(frozen=True)
class ActivityEntry:
    event: AuditEvent
    project: Project
    customer: Customer | None


@dataclass(frozen=True)
class ActivityPage:
    entries: list[ActivityEntry]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def recent_activity(
    session: Session,
    owner_id: int,
    page: int = 1,
    per_page: int = PER_PAGE,
    project_id: int | None = None,
) -> ActivityPage:
    """One page of the owner's activations and rollbacks, newest first."""
    page = max(1, page)
    stmt = (
        select(AuditEvent, Project, Customer)
        .join(Project, Project.id == AuditEvent.project_id)
        .outerjoin(Customer, Customer.id == AuditEvent.customer_id)
        .where(
            Project.owner_id == owner_id,
            Project.deleted_at.is_(None),
            AuditEvent.action.in_(FEED_ACTIONS),
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * per_page)
        # One row more than shown tells whether there is a next page without counting them all.
        .limit(per_page + 1)
    )
    if project_id is not None:
        stmt = stmt.where(AuditEvent.project_id == project_id)
    rows = session.execute(stmt).all()
    entries = [ActivityEntry(event, project, customer) for event, project, customer in rows]
    return ActivityPage(entries[:per_page], page, len(entries) > per_page)
