"""The funnel: what happened to a code after it was sent, step by step, per customer.

Each step is one ``FunnelStep`` row, kept the first time a customer reaches it with a code
(``INSERT … ON CONFLICT DO NOTHING`` on the (code, customer, step, detail) key), so counts are
people, not taps. A database trigger adds every new row to its plan's and batch's
``FunnelTally``: a plan's funnel is a few rows to read however many codes it has. An
activation's own steps (opened, activated) are written by the activation's trigger; the
recording calls here work in the caller's session and never commit.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from webapp.domain.codes import lookup_key
from webapp.domain.core_sql import connection_of
from webapp.domain.customers import TelegramUser, customer_id_for
from webapp.domain.errors import (
    ActivationRefused,
    AlreadyActivated,
    CodeExpired,
    CodeUsedUp,
    NotFound,
    TooManyAttempts,
    UnknownCode,
)
from webapp.domain.ownership import owned
from webapp.i18n import D_
from webapp.models import (
    AccessCode,
    Activation,
    Batch,
    FunnelStep,
    FunnelTally,
    Membership,
    Plan,
    plan_resource,
)

OPENED, REFUSED, ACTIVATED, JOINED, JOINED_ALL = "opened", "refused", "activated", "joined", "all"
RENEWED, REMINDED, ENDED, REMOVED = "renewed", "reminded", "ended", "removed"
STEP_LABELS = {
    OPENED: D_("Opened the link"),
    REFUSED: D_("Refused"),
    ACTIVATED: D_("Activated"),
    JOINED: D_("Joined"),
    JOINED_ALL: D_("Joined every chat"),
    RENEWED: D_("Renewed"),
    REMINDED: D_("Reminded"),
    ENDED: D_("Ended"),
    REMOVED: D_("Removed"),
}
REFUSAL_REASONS = {
    CodeUsedUp: "used_up",
    CodeExpired: "expired",
    AlreadyActivated: "already_activated",
    TooManyAttempts: "too_many_attempts",
    UnknownCode: "rolled_back",  # a code that exists yet is unknown to customers was rolled back
}
DETAIL_LABELS = {
    "used_up": D_("used up"),
    "expired": D_("expired"),
    "paused": D_("paused"),
    "already_activated": D_("already activated"),
    "too_many_attempts": D_("too many wrong codes"),
    "rolled_back": D_("rolled back"),
}
SCOPES = ("code", "batch", "plan")


def refusal_reason(exc: ActivationRefused) -> str:
    """The funnel's word for a refusal; refusals added later (e.g. ``CodePaused``) name
    themselves from their class."""
    for kind, reason in REFUSAL_REASONS.items():
        if isinstance(exc, kind):
            return reason
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
    return name.removeprefix("code_") or "refused"


# -- Recording ---------------------------------------------------------------------------------


# One statement per database, its rows passed as parameters: built once and compiled once
# (a statement with the rows in it is compiled again for every activation, which took twice
# as long as the database's work).
_INSERT_STEPS = {
    name: insert(FunnelStep.__table__).on_conflict_do_nothing(
        index_elements=["code_id", "customer_id", "step", "detail"]
    )
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def _insert(session: Session, rows: list[dict]) -> None:
    if rows:
        # The rows go in one round trip (insertmanyvalues) however many there are.
        db = connection_of(session)
        db.execute(_INSERT_STEPS[db.dialect.name], rows)


def _row(code: AccessCode, customer_id: int, step: str, detail: str, now: datetime) -> dict:
    return {
        "project_id": code.project_id,
        "plan_id": code.plan_id,
        "batch_id": code.batch_id,
        "code_id": code.id,
        "customer_id": customer_id,
        "step": step,
        "detail": detail,
        "at": now,
    }


def record_activation(session: Session, result, now: datetime) -> None:
    """A code was activated (``result`` is an ``ActivationResult``): an extension is also a
    renewal of the code that opened the subscription. That the customer opened the code and
    activated it the database records with the activation itself (its trigger, insight_02)."""
    customer_id = result.customer_id
    rows = []
    if result.extended:
        first = session.scalars(
            select(AccessCode)
            .join(Activation, Activation.code_id == AccessCode.id)
            .where(
                Activation.subscription_id == result.subscription_id,
                Activation.code_id != result.code_id,
            )
            .order_by(Activation.activated_at, Activation.id)
            .limit(1)
        ).first()
        if first is not None:
            rows.append(_row(first, customer_id, RENEWED, "", now))
    _insert(session, rows)


def record_refusal(
    session: Session,
    project_id: int,
    raw_code: str,
    user: TelegramUser,
    exc: ActivationRefused,
    now: datetime,
) -> None:
    """A customer reached the bot with ``raw_code`` and was refused; a code that does not exist
    has no funnel to count in."""
    code = session.scalars(
        select(AccessCode).where(
            AccessCode.project_id == project_id, AccessCode.lookup_key == lookup_key(raw_code)
        )
    ).first()
    if code is None:
        return
    if isinstance(exc, UnknownCode) and code.deleted_at is None:
        return
    customer_id = customer_id_for(session, project_id, user)
    reason = refusal_reason(exc)
    _insert(
        session,
        [_row(code, customer_id, OPENED, "", now), _row(code, customer_id, REFUSED, reason, now)],
    )


def _latest_code(session: Session, subscription_id: int) -> AccessCode | None:
    """The code whose period a subscription is in: its latest activation's."""
    return session.scalars(
        select(AccessCode)
        .join(Activation, Activation.code_id == AccessCode.id)
        .where(Activation.subscription_id == subscription_id)
        .order_by(Activation.activated_at.desc(), Activation.id.desc())
        .limit(1)
    ).first()


def record_subscription_step(
    session: Session,
    subscription_id: int,
    customer_id: int,
    step: str,
    detail: str,
    now: datetime,
    code: AccessCode | None = None,
) -> None:
    """A subscription was reminded, ended or its customer removed: a step of the code it is in
    (``code`` when the caller knows it, e.g. the one being rolled back)."""
    code = code or _latest_code(session, subscription_id)
    if code is not None:
        _insert(session, [_row(code, customer_id, step, detail, now)])


def record_join(session: Session, customer_id: int, resource_id: int, now: datetime) -> None:
    """A customer joined a chat with their own link: a step of the code that let them in, and
    "joined every chat" once every chat of its plan has them."""
    code = session.scalars(
        select(AccessCode)
        .join(Activation, Activation.code_id == AccessCode.id)
        .join(plan_resource, plan_resource.c.plan_id == AccessCode.plan_id)
        .where(Activation.customer_id == customer_id, plan_resource.c.resource_id == resource_id)
        .order_by(Activation.activated_at.desc(), Activation.id.desc())
        .limit(1)
    ).first()
    if code is None:
        return
    rows = [_row(code, customer_id, JOINED, str(resource_id), now)]
    missing = session.scalar(
        select(func.count())
        .select_from(plan_resource)
        .outerjoin(
            Membership,
            (Membership.resource_id == plan_resource.c.resource_id)
            & (Membership.customer_id == customer_id)
            & Membership.joined_at.is_not(None)
            & Membership.left_at.is_(None),
        )
        .where(
            plan_resource.c.plan_id == code.plan_id,
            plan_resource.c.resource_id != resource_id,
            Membership.id.is_(None),
        )
    )
    if not missing:
        rows.append(_row(code, customer_id, JOINED_ALL, "", now))
    _insert(session, rows)


# -- Reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStage:
    step: str
    detail: str
    label: str
    count: int
    rate: float | None  # of the stage before; None for the first


@dataclass
class Funnel:
    """Counts of people per (step, detail) of one code, batch or plan."""

    scope: str
    scope_id: int
    counts: dict[tuple[str, str], int]
    chats: dict[int, str] = field(default_factory=dict)  # resource id → title, for joins

    def count(self, step: str, detail: str = "") -> int:
        return self.counts.get((step, detail), 0)

    @property
    def stages(self) -> list[FunnelStage]:
        """Opened → activated → joined every chat → renewed, each a rate of the one before."""
        stages, before = [], None
        for step in (OPENED, ACTIVATED, JOINED_ALL, RENEWED):
            n = self.count(step)
            rate = None if before is None else (n / before if before else 0.0)
            stages.append(FunnelStage(step, "", STEP_LABELS[step], n, rate))
            before = n
        return stages

    def _details(self, step: str) -> list[FunnelStage]:
        total = self.count(OPENED)
        return [
            FunnelStage(
                step, detail, detail_label(step, detail, self.chats), n, n / total if total else 0.0
            )
            for (s, detail), n in sorted(self.counts.items())
            if s == step and n
        ]

    @property
    def refusals(self) -> list[FunnelStage]:
        return self._details(REFUSED)

    @property
    def joins(self) -> list[FunnelStage]:
        return self._details(JOINED)

    @property
    def later(self) -> list[FunnelStage]:
        """Reminded, ended (by reason) and removed: what came after."""
        return [stage for step in (REMINDED, ENDED, REMOVED) for stage in self._details(step)]

    @property
    def is_empty(self) -> bool:
        return not any(self.counts.values())


def detail_label(step: str, detail: str, chats: dict[int, str]) -> str:
    """Words for a step's detail: the chat of a join, the reason of a refusal or an end."""
    if step == JOINED:
        if not detail.isdigit():
            return ""
        return chats.get(int(detail), D_("a chat no longer in the plan"))
    return DETAIL_LABELS.get(detail, detail.replace("_", " ")) or STEP_LABELS[step]


def owned_scope(session: Session, owner_id: int, scope: str, scope_id: int):
    """The owner's code, batch or plan ``scope_id``; ``NotFound`` for anyone else's."""
    model = {"code": AccessCode, "batch": Batch, "plan": Plan}.get(scope)
    if model is None:
        raise NotFound("no such funnel")
    return owned(session, owner_id, model, scope_id)


def _scope_column(scope: str):
    return {"code": FunnelStep.code_id, "batch": FunnelStep.batch_id, "plan": FunnelStep.plan_id}[
        scope
    ]


def funnel_for(session: Session, scope: str, scope_id: int, plan: Plan) -> Funnel:
    """The funnel of a code (counted from its own rows: a code has few), or of a batch or plan
    (read from the tallies the trigger keeps)."""
    if scope == "code":
        rows = session.execute(
            select(FunnelStep.step, FunnelStep.detail, func.count())
            .where(FunnelStep.code_id == scope_id)
            .group_by(FunnelStep.step, FunnelStep.detail)
        ).all()
    else:
        rows = session.execute(
            select(FunnelTally.step, FunnelTally.detail, FunnelTally.count).where(
                FunnelTally.scope == scope, FunnelTally.scope_id == scope_id
            )
        ).all()
    chats = {r.id: r.title for r in plan.resources}
    return Funnel(scope, scope_id, {(step, detail): n for step, detail, n in rows}, chats)


PEOPLE_LIMIT = 200


def people_at(
    session: Session, scope: str, scope_id: int, step: str, detail: str = ""
) -> list[FunnelStep]:
    """Who reached ``step`` (with ``detail``) in the scope, latest first (at most
    ``PEOPLE_LIMIT``); each row has its customer loaded."""
    if step not in STEP_LABELS:
        raise NotFound("no such step")
    return list(session.scalars(people_query(scope, scope_id, step, detail)))


def people_query(scope: str, scope_id: int, step: str, detail: str):
    # For a plan or batch, (scope, step, detail, at) is an index: the latest come off its end.
    return (
        select(FunnelStep)
        .where(
            _scope_column(scope) == scope_id, FunnelStep.step == step, FunnelStep.detail == detail
        )
        .options(joinedload(FunnelStep.customer))
        .order_by(FunnelStep.at.desc())
        .limit(PEOPLE_LIMIT)
    )


def code_names(session: Session, code_ids: set[int]) -> dict[int, str]:
    if not code_ids:
        return {}
    return dict(
        session.execute(
            select(AccessCode.id, AccessCode.code).where(AccessCode.id.in_(code_ids))
        ).all()
    )


@dataclass(frozen=True)
class BatchUse:
    size: int
    opened: int  # codes someone reached the bot with
    activated: int  # codes activated at least once
    unused: int  # codes never activated, not rolled back, not expired: fit to hand out again


def batch_use(session: Session, batch_id: int, now: datetime) -> BatchUse:
    size, activated, unused = session.execute(
        select(
            func.count(),
            func.count().filter(AccessCode.activation_count > 0),
            func.count().filter(*_unused_clause(now)),
        ).where(AccessCode.batch_id == batch_id)
    ).one()
    opened = session.scalar(
        select(func.count(func.distinct(FunnelStep.code_id))).where(
            FunnelStep.batch_id == batch_id, FunnelStep.step == OPENED, FunnelStep.detail == ""
        )
    )
    return BatchUse(size, opened or 0, activated, unused)


def _unused_clause(now: datetime):
    return (
        AccessCode.activation_count == 0,
        AccessCode.deleted_at.is_(None),
        (AccessCode.expires_at.is_(None)) | (AccessCode.expires_at > now),
    )


def unused_codes(session: Session, batch_id: int, now: datetime) -> list[AccessCode]:
    """The batch's codes never activated, still live and unexpired, in the order they were made."""
    return list(
        session.scalars(
            select(AccessCode)
            .where(AccessCode.batch_id == batch_id, *_unused_clause(now))
            .order_by(AccessCode.id)
        )
    )
