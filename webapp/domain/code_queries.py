"""Reading codes back for the dashboard: the list, a code's history, batches.

The list stays fast with 100,000+ codes per project: it pages by keyset on ``(created_at, id)``,
which walks ``ix_access_code_project_created`` (or ``ix_access_code_plan_created``) backwards and
stops after one page; no query counts the whole table, and every status is a SQL condition so the
database filters while it walks the index.
"""

import heapq
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from webapp.domain.codes import lookup_key
from webapp.domain.errors import NotFound
from webapp.domain.ids import parse_id
from webapp.domain.ownership import owned, owned_project
from webapp.i18n import D_
from webapp.models import (
    AccessCode,
    Activation,
    AuditEvent,
    Batch,
    Customer,
    Plan,
    Project,
    Removal,
    Subscription,
)

PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUSES = {
    "active": D_("Active"),
    "expired": D_("Expired"),
    "used_up": D_("Used up"),
    "paused": D_("Paused"),
    "rolled_back": D_("Rolled back"),
}


def status_clause(status: str | None, now: datetime):
    """The SQL condition of ``AccessCode.status(now)``; ``None`` means every live code."""
    live = AccessCode.deleted_at.is_(None)
    not_expired = or_(AccessCode.expires_at.is_(None), AccessCode.expires_at > now)
    if status is None:
        return live
    running = AccessCode.paused_at.is_(None)
    if status == "active":
        return and_(
            live, not_expired, running, AccessCode.activation_count < AccessCode.max_activations
        )
    if status == "expired":
        return and_(live, AccessCode.expires_at.is_not(None), AccessCode.expires_at <= now)
    if status == "used_up":
        return and_(
            live, not_expired, running, AccessCode.activation_count >= AccessCode.max_activations
        )
    if status == "paused":
        return and_(live, not_expired, AccessCode.paused_at.is_not(None))
    if status == "rolled_back":
        return AccessCode.deleted_at.is_not(None)
    raise ValueError(f"unknown status {status!r}")


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the ``(created_at, id)`` of a code."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.created_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> "Cursor | None":
        """The cursor in ``text``, or ``None`` when it is missing or malformed."""
        if not text:
            return None
        micros, _, code_id = text.partition(".")
        row_id = parse_id(code_id)
        if row_id is None or not re.fullmatch(r"-?[0-9]{1,18}", micros):
            return None
        try:
            return cls(EPOCH + timedelta(microseconds=int(micros)), row_id)
        except OverflowError:
            return None

    @classmethod
    def of(cls, code: AccessCode) -> "Cursor":
        return cls(code.created_at, code.id)


@dataclass(frozen=True)
class CodeFilter:
    """Which codes to list. ``project_ids`` are the projects the viewer may see."""

    project_ids: tuple[int, ...]
    plan_id: int | None = None
    batch_id: int | None = None
    status: str | None = None
    search: str = ""


@dataclass(frozen=True)
class CodePage:
    codes: list[AccessCode]
    older: Cursor | None  # pass as ``after`` for the next (older) page
    newer: Cursor | None  # pass as ``before`` for the previous (newer) page


def list_codes(
    session: Session,
    flt: CodeFilter,
    now: datetime,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> CodePage:
    """One page of codes, newest first, strictly older than ``after`` or newer than ``before``.

    Several projects are read one indexed query each (an owner has a handful) and merged, since
    one ``project_id IN (…)`` query cannot be served in order by the per-project index.
    """
    backwards = before is not None and after is None
    cursor = before if backwards else after
    if flt.plan_id is not None or flt.batch_id is not None:
        scopes = [None]  # one plan or batch lives in one project: a single query
    else:
        scopes = list(flt.project_ids)
    rows: list[AccessCode] = []
    for project_id in scopes:
        query = _page_query(flt, project_id, now, cursor, backwards, limit + 1)
        rows.extend(session.scalars(query).unique())
    key = _sort_key
    rows = (heapq.nsmallest if backwards else heapq.nlargest)(limit + 1, rows, key=key)
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        has_newer, has_older = more, True
    else:
        has_newer, has_older = after is not None, more
    return CodePage(
        codes=rows,
        older=Cursor.of(rows[-1]) if rows and has_older else None,
        newer=Cursor.of(rows[0]) if rows and has_newer else None,
    )


def _sort_key(code: AccessCode) -> tuple[datetime, int]:
    return (code.created_at, code.id)


def _page_query(flt, project_id, now, cursor, backwards, limit):
    query = select(AccessCode).options(
        joinedload(AccessCode.plan).joinedload(Plan.project).load_only(Project.name)
    )
    if project_id is not None:
        query = query.where(AccessCode.project_id == project_id)
    else:
        query = query.where(AccessCode.project_id.in_(flt.project_ids))
    if flt.plan_id is not None:
        query = query.where(AccessCode.plan_id == flt.plan_id)
    if flt.batch_id is not None:
        query = query.where(AccessCode.batch_id == flt.batch_id)
    query = query.where(status_clause(flt.status, now))
    key = lookup_key(flt.search)
    if key:
        query = query.where(AccessCode.lookup_key.startswith(key, autoescape=True))
    if cursor is not None:
        # Written out rather than as a row comparison so every backend compiles it the same;
        # the first term is the range the index scan starts from.
        if backwards:
            query = query.where(
                AccessCode.created_at >= cursor.created_at,
                or_(AccessCode.created_at > cursor.created_at, AccessCode.id > cursor.id),
            )
        else:
            query = query.where(
                AccessCode.created_at <= cursor.created_at,
                or_(AccessCode.created_at < cursor.created_at, AccessCode.id < cursor.id),
            )
    if backwards:
        query = query.order_by(AccessCode.created_at.asc(), AccessCode.id.asc())
    else:
        query = query.order_by(AccessCode.created_at.desc(), AccessCode.id.desc())
    return query.limit(limit)


COUNT_CAP = 10_000
SELECTION_MAX = 5_000


def _matching(flt: CodeFilter, now: datetime):
    query = select(AccessCode.id).where(AccessCode.project_id.in_(flt.project_ids))
    if flt.plan_id is not None:
        query = query.where(AccessCode.plan_id == flt.plan_id)
    if flt.batch_id is not None:
        query = query.where(AccessCode.batch_id == flt.batch_id)
    query = query.where(status_clause(flt.status, now))
    key = lookup_key(flt.search)
    if key:
        query = query.where(AccessCode.lookup_key.startswith(key, autoescape=True))
    return query


def count_codes(session: Session, flt: CodeFilter, now: datetime, cap: int = COUNT_CAP) -> int:
    """How many codes match, counted up to ``cap`` (the list says "10,000+" beyond): a bounded
    read, so a huge project's list stays fast."""
    if not flt.project_ids:
        return 0
    inner = _matching(flt, now).limit(cap + 1).subquery()
    return session.scalar(select(func.count()).select_from(inner))


def matching_code_ids(
    session: Session, flt: CodeFilter, now: datetime, limit: int = SELECTION_MAX
) -> list[int]:
    """The ids of codes matching ``flt``, newest first, at most ``limit`` (for "all matching")."""
    if not flt.project_ids:
        return []
    query = _matching(flt, now).order_by(AccessCode.created_at.desc(), AccessCode.id.desc())
    return list(session.scalars(query.limit(limit)))


def owner_codes_by_id(session: Session, owner_id: int, code_ids: list[int]) -> list[AccessCode]:
    """The codes among ``code_ids`` that belong to the owner's live projects (others dropped)."""
    if not code_ids:
        return []
    return list(
        session.scalars(
            select(AccessCode)
            .join(Project, Project.id == AccessCode.project_id)
            .where(
                AccessCode.id.in_(code_ids),
                Project.owner_id == owner_id,
                Project.deleted_at.is_(None),
            )
            .options(joinedload(AccessCode.plan).joinedload(Plan.project))
            .order_by(AccessCode.created_at.desc(), AccessCode.id.desc())
        ).unique()
    )


# -- One owner's things ------------------------------------------------------------------------


def owner_projects(session: Session, owner_id: int) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
            .order_by(Project.name, Project.id)
        )
    )


def owner_plans(session: Session, owner_id: int, *, include_archived: bool = True) -> list[Plan]:
    query = (
        select(Plan)
        .join(Project, Plan.project_id == Project.id)
        .where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
        .options(joinedload(Plan.project))
        .order_by(Project.name, Project.id, Plan.name, Plan.id)
    )
    if not include_archived:
        query = query.where(Plan.archived_at.is_(None))
    return list(session.scalars(query))


def owner_project(session: Session, owner_id: int, project_id: int) -> Project:
    return owned_project(session, owner_id, project_id)


def owner_plan(session: Session, owner_id: int, plan_id: int) -> Plan:
    return owned(session, owner_id, Plan, plan_id)


def owner_code(session: Session, owner_id: int, code_id: int) -> AccessCode:
    """The code, rolled back or not, if it belongs to one of the owner's projects."""
    return owned(session, owner_id, AccessCode, code_id)


def owner_batch(session: Session, owner_id: int, batch_id: int) -> Batch:
    return owned(session, owner_id, Batch, batch_id)


# -- A code's story ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationRow:
    """One activation of a code with what became of the subscription it opened or extended."""

    activation: Activation
    subscription: Subscription
    removals: list[Removal]

    def subscription_status(self, now: datetime) -> str:
        sub = self.subscription
        failed = [r for r in self.removals if r.status == "failed"]
        pending = [r for r in self.removals if r.status == "pending"]
        if failed:
            return "removal failed"
        if pending:
            return "removal pending"
        if sub.ended_at is not None or (sub.ends_at is not None and sub.ends_at <= now):
            return "access ended"
        if sub.reminder_sent_at is not None and sub.reminded_for_ends_at == sub.ends_at:
            return "reminder sent"
        return "active"


def code_activations(session: Session, code_id: int) -> list[ActivationRow]:
    activations = session.scalars(
        select(Activation)
        .where(Activation.code_id == code_id)
        .options(joinedload(Activation.customer), joinedload(Activation.subscription))
        .order_by(Activation.activated_at.desc(), Activation.id.desc())
    ).all()
    sub_ids = {a.subscription_id for a in activations}
    removals: dict[int, list[Removal]] = {sid: [] for sid in sub_ids}
    if sub_ids:
        for removal in session.scalars(
            select(Removal)
            .where(Removal.subscription_id.in_(sub_ids))
            .options(joinedload(Removal.resource))
            .order_by(Removal.id)
        ):
            removals[removal.subscription_id].append(removal)
    return [
        ActivationRow(a, a.subscription, removals.get(a.subscription_id, [])) for a in activations
    ]


def code_history(session: Session, code: AccessCode) -> list[AuditEvent]:
    """The code's audit events, newest first, with its batch's creation when it came in one."""
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.code_id == code.id)))
    if code.batch_id is not None:
        batch = session.get(Batch, code.batch_id)
        # The batch event was written with the batch's own timestamp: that pins it to an index
        # range instead of scanning the project's whole history.
        candidates = session.scalars(
            select(AuditEvent).where(
                AuditEvent.project_id == code.project_id,
                AuditEvent.created_at == batch.created_at,
                AuditEvent.action == "batch.created",
            )
        )
        events.extend(e for e in candidates if (e.details or {}).get("batch_id") == batch.id)
    events.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    return events


def code_removals(session: Session, code_id: int) -> list[Removal]:
    """Every removal the code's rollback queued, in the order written, with customer and resource.

    Read through ``Removal.code_id``: the rollback deleted the activations that led to them.
    """
    return list(
        session.scalars(
            select(Removal)
            .where(Removal.code_id == code_id)
            .options(joinedload(Removal.customer), joinedload(Removal.resource))
            .order_by(Removal.id)
        )
    )


def owner_code_removal(session: Session, owner_id: int, code_id: int, removal_id: int) -> Removal:
    """A removal queued by the rollback of one of the owner's codes."""
    code = owner_code(session, owner_id, code_id)
    removal = session.get(Removal, removal_id)
    if removal is None or removal.code_id != code.id or removal.project_id != code.project_id:
        raise NotFound("no such removal")
    return removal


# -- Batches -----------------------------------------------------------------------------------


def list_batches(
    session: Session, project_ids: tuple[int, ...], *, after: Cursor | None = None, limit=PAGE_SIZE
) -> tuple[list[Batch], Cursor | None]:
    """Batches newest first, ``limit`` at a time (keyset on ``(created_at, id)``)."""
    if not project_ids:
        return [], None
    query = (
        select(Batch)
        .where(Batch.project_id.in_(project_ids))
        .options(joinedload(Batch.plan).joinedload(Plan.project))
        .order_by(Batch.created_at.desc(), Batch.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            Batch.created_at <= after.created_at,
            or_(Batch.created_at < after.created_at, Batch.id < after.id),
        )
    batches = list(session.scalars(query).unique())
    more = len(batches) > limit
    batches = batches[:limit]
    older = Cursor(batches[-1].created_at, batches[-1].id) if more else None
    return batches, older


def batch_codes(session: Session, batch_id: int) -> list[AccessCode]:
    """The batch's codes that still exist, in the order they were made."""
    return list(
        session.scalars(
            select(AccessCode)
            .where(AccessCode.batch_id == batch_id, AccessCode.deleted_at.is_(None))
            .order_by(AccessCode.id)
        )
    )


def batch_live_counts(session: Session, batch_ids: list[int]) -> dict[int, int]:
    """How many codes of each batch are still there (not rolled back)."""
    if not batch_ids:
        return {}
    rows = session.execute(
        select(AccessCode.batch_id, func.count())
        .where(AccessCode.batch_id.in_(batch_ids), AccessCode.deleted_at.is_(None))
        .group_by(AccessCode.batch_id)
    )
    return {batch_id: count for batch_id, count in rows}


def batch_all_codes(session: Session, batch_id: int) -> list[AccessCode]:
    """Every code of the batch, rolled back ones too, in the order they were made."""
    return list(
        session.scalars(
            select(AccessCode).where(AccessCode.batch_id == batch_id).order_by(AccessCode.id)
        )
    )


def activated_by(session: Session, code_ids: list[int]) -> dict[int, list[Customer]]:
    """The customers who activated each code (live activations), oldest first."""
    found: dict[int, list[Customer]] = {code_id: [] for code_id in code_ids}
    if not code_ids:
        return found
    rows = session.execute(
        select(Activation.code_id, Customer)
        .join(Customer, Customer.id == Activation.customer_id)
        .where(Activation.code_id.in_(code_ids))
        .order_by(Activation.activated_at, Activation.id)
    )
    for code_id, customer in rows:
        found[code_id].append(customer)
    return found
