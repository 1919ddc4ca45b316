"""Access codes: making them, reading them back from people, and their activation links."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from webapp.domain import audit
from webapp.domain.errors import InvalidInput
from webapp.domain.periods import add_months
from webapp.i18n import D_
from webapp.models import AccessCode, Batch, Plan

# No 0/O, 1/I/L: a code can be read aloud or copied by hand without guessing.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
GROUPS = 4
GROUP_LENGTH = 4  # 16 symbols of 31: log2(31) * 16 ≈ 79 bits of randomness
MAX_BATCH = 500
MAX_ACTIVATIONS = 1_000_000
DEEP_LINK_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# At least 8 characters: 4 letters and digits are 1.7 million guesses, which a few dozen
# throwaway accounts get through; 8 are 2.8 × 10^12.
CUSTOM_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$")
# Deep-link payloads with this prefix link an owner's Telegram account (domain.owner_link).
RESERVED_PREFIX = "OWNER_"

EXPIRY_PRESETS = {
    "never": D_("No expiry"),
    "1d": D_("1 day"),
    "1w": D_("1 week"),
    "1m": D_("1 month"),
    "3m": D_("3 months"),
}


_SYMBOLS = GROUPS * GROUP_LENGTH
_CODE_SPACE = len(ALPHABET) ** _SYMBOLS


def generate_code() -> str:
    # One uniform draw from the whole code space, written in base 31: the same randomness as a
    # draw per symbol, at a sixth of the cost (a batch of 500 makes 8,000 symbols).
    n = secrets.randbelow(_CODE_SPACE)
    symbols = []
    for _ in range(_SYMBOLS):
        n, digit = divmod(n, len(ALPHABET))
        symbols.append(ALPHABET[digit])
    text = "".join(symbols)
    return "-".join(text[i : i + GROUP_LENGTH] for i in range(0, _SYMBOLS, GROUP_LENGTH))


def lookup_key(raw: str) -> str:
    """The form codes are matched in: case, spaces and hyphens do not matter."""
    return re.sub(r"[\s-]+", "", raw).upper()


def is_deep_link_payload(text: str) -> bool:
    return bool(DEEP_LINK_PAYLOAD.match(text))


def activation_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def expiry_from_preset(preset: str, now: datetime) -> datetime | None:
    """The expiry date of a code made at ``now`` with one of ``EXPIRY_PRESETS``."""
    if preset == "never":
        return None
    if preset == "1d":
        return now + timedelta(days=1)
    if preset == "1w":
        return now + timedelta(weeks=1)
    if preset == "1m":
        return add_months(now, 1)
    if preset == "3m":
        return add_months(now, 3)
    raise InvalidInput("expiry", D_("Choose one of the offered expiry periods."))


@dataclass(frozen=True)
class CodeRequest:
    """What an owner asked for in the wizard, before anything is written."""

    plan_id: int
    max_activations: int
    expires_at: datetime | None
    count: int = 1
    custom_code: str | None = None
    note: str | None = None


def validate_code_request(session: Session, project_id: int, req: CodeRequest, now: datetime):
    """Check every field of ``req``: the plan back, or ``InvalidInput`` for the first bad field."""
    plan = session.get(Plan, req.plan_id)
    if plan is None or plan.project_id != project_id:
        raise InvalidInput("plan", D_("Choose one of your plans."))
    if plan.archived_at is not None:
        raise InvalidInput("plan", D_("This plan is archived; choose an active plan."))
    if not 1 <= req.max_activations <= MAX_ACTIVATIONS:
        raise InvalidInput.marked(
            "max_activations",
            D_("Max activations must be between 1 and %(max)s."),
            max=f"{MAX_ACTIVATIONS:,}",
        )
    if req.expires_at is not None and req.expires_at <= now:
        raise InvalidInput("expiry", D_("The expiry date must be in the future."))
    if not 1 <= req.count <= MAX_BATCH:
        raise InvalidInput.marked(
            "count", D_("A bulk generation makes between 1 and %(num)s codes."), num=MAX_BATCH
        )
    if req.custom_code is not None:
        if req.count != 1:
            raise InvalidInput(
                "custom_code", D_("A custom code can only be made as a single code.")
            )
        if not CUSTOM_CODE.match(req.custom_code):
            raise InvalidInput(
                "custom_code",
                D_(
                    "A custom code has 8 to 64 letters, digits, '-' or '_' and starts with a "
                    "letter or digit."
                ),
            )
        if lookup_key(req.custom_code).startswith(RESERVED_PREFIX):
            raise InvalidInput(
                "custom_code", D_("Codes starting with 'owner_' are reserved for linking owners.")
            )
        taken = session.scalar(
            select(AccessCode.id).where(
                AccessCode.project_id == project_id,
                AccessCode.lookup_key == lookup_key(req.custom_code),
            )
        )
        if taken is not None:
            raise InvalidInput("custom_code", D_("This project already has (or had) that code."))
    return plan


def create_codes(
    session: Session,
    project_id: int,
    req: CodeRequest,
    *,
    owner_id: int | None,
    now: datetime,
    via: str = "dashboard",
) -> tuple[Batch | None, list[AccessCode]]:
    """Make one code or a batch of up to ``MAX_BATCH``; nothing is written if any field is wrong.

    A single code has no batch; a bulk generation (``count`` > 1) gets one, so its CSV can be
    downloaded again later.
    """
    plan = validate_code_request(session, project_id, req, now)
    if req.custom_code is not None:
        texts = [req.custom_code]
    else:
        texts = _fresh_codes(session, project_id, req.count)
    fields = {
        "project_id": project_id,
        "plan_id": plan.id,
        "max_activations": req.max_activations,
        "activation_count": 0,
        "expires_at": req.expires_at,
        "note": req.note,
        "created_by_owner_id": owner_id,
        "created_at": now,
    }
    batch = None
    if req.count > 1:
        batch = Batch(
            project_id=project_id,
            plan_id=plan.id,
            size=req.count,
            max_activations=req.max_activations,
            expires_at=req.expires_at,
            created_by_owner_id=owner_id,
            created_via=via,
            created_at=now,
        )
        session.add(batch)
        session.flush()
        # One multi-row INSERT … RETURNING gives the batch's codes back as ORM objects, at about
        # half the cost of flushing 500 new objects through the unit of work.
        codes = list(
            session.scalars(
                insert(AccessCode).returning(AccessCode, sort_by_parameter_order=True),
                [
                    {**fields, "batch_id": batch.id, "code": text, "lookup_key": lookup_key(text)}
                    for text in texts
                ],
            )
        )
    else:
        codes = [AccessCode(code=texts[0], lookup_key=lookup_key(texts[0]), **fields)]
        session.add_all(codes)
        session.flush()
    if batch is not None:
        audit.record(
            session,
            project_id,
            "batch.created",
            owner_id=owner_id,
            now=now,
            details={"batch_id": batch.id, "count": req.count, "plan": plan.name, "via": via},
        )
    else:
        # A batch is audited once as a whole; its codes point at it through batch_id.
        code = codes[0]
        audit.record(
            session,
            project_id,
            "code.created",
            code_id=code.id,
            owner_id=owner_id,
            now=now,
            details={
                "code": code.code,
                "plan": plan.name,
                "max_activations": code.max_activations,
                "via": via,
            },
        )
    return batch, codes


def _fresh_codes(session: Session, project_id: int, count: int) -> list[str]:
    """``count`` new random codes, none already in the project (a collision is ~2⁻⁷⁹, but free
    to rule out with one query)."""
    wanted: dict[str, str] = {}
    while len(wanted) < count:
        for _ in range(count - len(wanted)):
            text = generate_code()
            wanted[lookup_key(text)] = text
        taken = session.scalars(
            select(AccessCode.lookup_key).where(
                AccessCode.project_id == project_id, AccessCode.lookup_key.in_(wanted)
            )
        ).all()
        for key in taken:
            del wanted[key]
    return list(wanted.values())
