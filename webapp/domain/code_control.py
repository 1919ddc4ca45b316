"""An owner's controls over codes that exist: pause, resume, edit, and the same for a batch.

Pausing only refuses new activations: subscriptions, memberships and removals are untouched, so
customers keep whatever the code already gave them. Every change is one audit event on the code
(a batch action writes one event per code it changed, so each code's history is complete).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.domain import audit
from webapp.domain.codes import MAX_ACTIVATIONS, lookup_key
from webapp.domain.errors import InvalidInput, NotFound
from webapp.i18n import D_
from webapp.models import AccessCode, Activation

NOTE_MAX = 255


def find_code(session: Session, project_id: int, raw: str) -> AccessCode:
    """The project's code typed as ``raw`` (any case, spaces or hyphens), rolled back or not."""
    key = lookup_key(raw or "")
    code = session.scalars(
        select(AccessCode).where(AccessCode.project_id == project_id, AccessCode.lookup_key == key)
    ).first() if key else None
    if code is None:
        raise NotFound("no such code")
    return code


def _live_code(session: Session, project_id: int, code_id: int) -> AccessCode:
    code = session.get(AccessCode, code_id)
    if code is None or code.project_id != project_id:
        raise NotFound("no such code")
    if code.deleted_at is not None:
        raise InvalidInput("code", D_("This code was rolled back; it cannot be changed."))
    return code


def pause_code(
    session: Session, project_id: int, code_id: int, *, owner_id: int | None, now: datetime,
    via: str = "dashboard",
) -> bool:
    """Pause the code; ``False`` when it was paused already (nothing changes then)."""
    _live_code(session, project_id, code_id)
    changed = _set_paused(session, [code_id], now)
    if changed:
        _record(session, project_id, changed, "code.paused", owner_id, now, {"via": via})
    return bool(changed)


def resume_code(
    session: Session, project_id: int, code_id: int, *, owner_id: int | None, now: datetime,
    via: str = "dashboard",
) -> bool:
    """Let a paused code be activated again; ``False`` when it was not paused."""
    _live_code(session, project_id, code_id)
    changed = _set_paused(session, [code_id], None)
    if changed:
        _record(session, project_id, changed, "code.resumed", owner_id, now, {"via": via})
    return bool(changed)


def _set_paused(
    session: Session, code_ids: list[int], paused_at: datetime | None
) -> list[tuple[int, str]]:
    """Pause (or resume, with ``None``) the live codes among ``code_ids`` that are not so yet;
    (id, code) of those changed. Conditional, so two owners' clicks record one change, not two."""
    if not code_ids:
        return []
    already = (
        AccessCode.paused_at.is_not(None) if paused_at is not None
        else AccessCode.paused_at.is_(None)
    )
    rows = session.execute(
        update(AccessCode)
        .where(AccessCode.id.in_(code_ids), AccessCode.deleted_at.is_(None), ~already)
        .values(paused_at=paused_at)
        .returning(AccessCode.id, AccessCode.code)
        .execution_options(synchronize_session=False)
    ).all()
    # Only the codes changed are stale in this session; expiring everything would make other
    # loaded rows (their projects) reload inside later queries.
    for row in rows:
        loaded = session.identity_map.get(session.identity_key(AccessCode, row.id))
        if loaded is not None:
            session.expire(loaded, ["paused_at"])
    return [(row.id, row.code) for row in rows]


def _record(session, project_id, changed, action, owner_id, now, details) -> None:
    for code_id, code in changed:
        audit.record(
            session, project_id, action, code_id=code_id, owner_id=owner_id, now=now,
            details={"code": code, **details},
        )


@dataclass(frozen=True)
class CodeEdit:
    """What the owner may change on an existing code."""

    max_activations: int
    expires_at: datetime | None
    note: str | None


def edit_code(
    session: Session, project_id: int, code_id: int, edit: CodeEdit, *, owner_id: int | None,
    now: datetime,
) -> dict:
    """Change the code's max activations, expiry and note; the fields changed (old, new).

    Max activations never goes below what is used; a new expiry must be in the future (clearing
    it is always allowed). The lower bound is checked again inside the UPDATE, so an activation
    landing between the read and the write cannot leave the count above the maximum.
    """
    code = _live_code(session, project_id, code_id)
    if not 1 <= edit.max_activations <= MAX_ACTIVATIONS:
        raise InvalidInput.marked(
            "max_activations",
            D_("Max activations must be between 1 and %(max)s."),
            max=f"{MAX_ACTIVATIONS:,}",
        )
    if edit.max_activations < code.activation_count:
        raise InvalidInput.marked(
            "max_activations",
            D_(
                "It has been activated %(count)s times already: max activations cannot be "
                "lower than that."
            ),
            count=code.activation_count,
        )
    moved = edit.expires_at != code.expires_at
    if edit.expires_at is not None and moved and edit.expires_at <= now:
        raise InvalidInput("expires_at", D_("The expiry date must be in the future."))
    note = (edit.note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidInput.marked(
            "note", D_("A note has at most %(num)s characters."), num=NOTE_MAX
        )
    changes = {}
    if edit.max_activations != code.max_activations:
        changes["max_activations"] = [code.max_activations, edit.max_activations]
    if edit.expires_at != code.expires_at:
        changes["expires_at"] = [_iso(code.expires_at), _iso(edit.expires_at)]
    if note != code.note:
        changes["note"] = [code.note, note]
    if not changes:
        return {}
    updated = session.execute(
        update(AccessCode)
        .where(
            AccessCode.id == code.id,
            AccessCode.deleted_at.is_(None),
            AccessCode.activation_count <= edit.max_activations,
        )
        .values(max_activations=edit.max_activations, expires_at=edit.expires_at, note=note)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:
        raise InvalidInput(
            "max_activations", D_("It was activated again meanwhile: max activations is too low.")
        )
    session.expire(code)
    audit.record(
        session, project_id, "code.edited", code_id=code.id, owner_id=owner_id, now=now,
        details={"code": code.code, "changes": changes},
    )
    return changes


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# -- Batches and selections --------------------------------------------------------------------


@dataclass(frozen=True)
class BatchCounts:
    codes: int
    used: int  # codes activated at least once
    unused: int
    paused: int
    rolled_back: int
    activations: int


def batch_counts(session: Session, batch_id: int) -> BatchCounts:
    """The batch's codes counted by what became of them, in one query."""
    live = AccessCode.deleted_at.is_(None)
    row = session.execute(
        select(
            func.count(),
            func.count().filter(live, AccessCode.activation_count > 0),
            func.count().filter(live, AccessCode.activation_count == 0),
            func.count().filter(live, AccessCode.paused_at.is_not(None)),
            func.count().filter(AccessCode.deleted_at.is_not(None)),
        ).where(AccessCode.batch_id == batch_id)
    ).one()
    activations = session.scalar(
        select(func.count())
        .select_from(Activation)
        .join(AccessCode, AccessCode.id == Activation.code_id)
        .where(AccessCode.batch_id == batch_id)
    )
    return BatchCounts(*row, activations=activations)


def pause_codes(
    session: Session, project_id: int, code_ids: list[int], *, owner_id: int | None,
    now: datetime, reason: str = "selection",
) -> int:
    """Pause every live, unpaused code of ``code_ids`` in the project; how many were paused."""
    changed = _set_paused(session, _in_project(session, project_id, code_ids), now)
    _record(session, project_id, changed, "code.paused", owner_id, now, {"via": reason})
    return len(changed)


def resume_codes(
    session: Session, project_id: int, code_ids: list[int], *, owner_id: int | None,
    now: datetime, reason: str = "selection",
) -> int:
    changed = _set_paused(session, _in_project(session, project_id, code_ids), None)
    _record(session, project_id, changed, "code.resumed", owner_id, now, {"via": reason})
    return len(changed)


def _in_project(session: Session, project_id: int, code_ids: list[int]) -> list[int]:
    if not code_ids:
        return []
    return list(
        session.scalars(
            select(AccessCode.id).where(
                AccessCode.id.in_(code_ids), AccessCode.project_id == project_id
            )
        )
    )


def batch_code_ids(
    session: Session, batch_id: int, *, unused_only: bool = False, unpaused: bool = False
) -> list[int]:
    """The live codes of the batch (only those never activated, with ``unused_only``; only
    those not paused, with ``unpaused``)."""
    query = select(AccessCode.id).where(
        AccessCode.batch_id == batch_id, AccessCode.deleted_at.is_(None)
    )
    if unused_only:
        query = query.where(AccessCode.activation_count == 0)
    if unpaused:
        query = query.where(AccessCode.paused_at.is_(None))
    return list(session.scalars(query.order_by(AccessCode.id)))
