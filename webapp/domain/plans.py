"""Plans: which of a project's resources open, and for how long."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from webapp.domain.errors import InvalidInput
from webapp.domain.ownership import owned
from webapp.i18n import D_
from webapp.models import PERIOD_UNITS, Plan, Project, Resource

MAX_NAME = 120
MAX_RENEWAL_TEXT = 1000
MAX_PERIOD = {"day": 3650, "month": 120}  # ten years either way
# One message per unit, so each language can word its own plural.
_HOW_MANY = {
    "day": D_("Enter how many days the access lasts."),
    "month": D_("Enter how many months the access lasts."),
}
_WHOLE_NUMBER = {
    "day": D_("Enter a whole number of days from 1 to %(limit)s."),
    "month": D_("Enter a whole number of months from 1 to %(limit)s."),
}


@dataclass
class PlanInput:
    name: str
    resource_ids: list[int] = field(default_factory=list)
    period_unit: str = "month"
    period_count: int | None = None
    renewal_text: str | None = None


def owned_plan(session: Session, owner_id: int, plan_id: int) -> Plan:
    """The plan if its project is the owner's (and not deleted); ``NotFound`` otherwise."""
    return owned(session, owner_id, Plan, plan_id)


def owner_plans(
    session: Session,
    owner_id: int,
    *,
    project_id: int | None = None,
    archived: bool = False,
) -> list[Plan]:
    """The owner's plans, by project then name; archived ones instead when ``archived``."""
    stmt = (
        select(Plan)
        .join(Project, Project.id == Plan.project_id)
        .where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
        .where(Plan.archived_at.is_not(None) if archived else Plan.archived_at.is_(None))
        .options(selectinload(Plan.resources), selectinload(Plan.project))
        .order_by(Project.created_at, Project.id, Plan.name, Plan.id)
    )
    if project_id is not None:
        stmt = stmt.where(Plan.project_id == project_id)
    return list(session.scalars(stmt))


def _clean(session: Session, project_id: int, data: PlanInput):
    name = (data.name or "").strip()
    if not name:
        raise InvalidInput("name", D_("Give the plan a name, e.g. “Gold Club, 3 months”."))
    if len(name) > MAX_NAME:
        raise InvalidInput.marked("name", D_("Use at most %(num)s characters."), num=MAX_NAME)

    ids = sorted(set(data.resource_ids or []))
    if not ids:
        raise InvalidInput("resources", D_("Pick at least one channel or group."))
    resources = list(
        session.scalars(
            select(Resource)
            .where(
                Resource.project_id == project_id,
                Resource.id.in_(ids),
                Resource.pending_since.is_(None),
            )
            .order_by(Resource.id)
        )
    )
    if len(resources) != len(ids):
        raise InvalidInput("resources", D_("Pick channels and groups of this project only."))

    unit = data.period_unit
    if unit not in PERIOD_UNITS:
        raise InvalidInput("period_unit", D_("Choose days, months or lifetime."))
    count = data.period_count
    if unit == "lifetime":
        count = None
    else:
        limit = MAX_PERIOD[unit]
        if count is None:
            raise InvalidInput("period_count", _HOW_MANY[unit])
        if not 1 <= count <= limit:
            raise InvalidInput.marked("period_count", _WHOLE_NUMBER[unit], limit=limit)

    text = (data.renewal_text or "").strip() or None
    if text is not None and len(text) > MAX_RENEWAL_TEXT:
        raise InvalidInput.marked(
            "renewal_text", D_("Use at most %(num)s characters."), num=MAX_RENEWAL_TEXT
        )
    return name, resources, unit, count, text


def create_plan(session: Session, project_id: int, data: PlanInput, now: datetime) -> Plan:
    """A new plan of the project; every value checked before anything is written."""
    name, resources, unit, count, text = _clean(session, project_id, data)
    plan = Plan(
        project_id=project_id,
        name=name,
        period_unit=unit,
        period_count=count,
        renewal_text=text,
        resources=resources,
        created_at=now,
    )
    session.add(plan)
    session.flush()
    return plan


def update_plan(session: Session, plan: Plan, data: PlanInput) -> Plan:
    """Change a plan. Subscriptions already running keep their end dates; new activations and
    extensions use the new period and resources."""
    name, resources, unit, count, text = _clean(session, plan.project_id, data)
    plan.name = name
    plan.resources = resources
    plan.period_unit = unit
    plan.period_count = count
    plan.renewal_text = text
    session.flush()
    return plan


def archive_plan(session: Session, plan: Plan, now: datetime) -> Plan:
    """Hide the plan from new codes and customers' plan lists; codes already made still work."""
    if plan.archived_at is None:
        plan.archived_at = now
        session.flush()
    return plan


def restore_plan(session: Session, plan: Plan) -> Plan:
    plan.archived_at = None
    session.flush()
    return plan
