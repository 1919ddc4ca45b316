"""The owner's ``/newcode`` wizard in the bot: project, plan, activations, expiry, single or bulk.

The dialogue's state is a ``BotConversation`` row, so it survives a bot restart. Every answer is
checked against that state: a button from an older wizard, a button pressed twice, or callback
data that was tampered with changes nothing.
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.domain.codes import (
    EXPIRY_PRESETS,
    MAX_ACTIVATIONS,
    MAX_BATCH,
    CodeRequest,
    create_codes,
    expiry_from_preset,
)
from webapp.domain.errors import DomainError, InvalidInput
from webapp.domain.ids import is_ascii_number, parse_id
from webapp.i18n import N_
from webapp.models import AccessCode, Batch, BotConversation, Owner, Plan, Project

KIND = "newcode"
MAX_ACTIVATION_PRESETS = ("1", "5", "10", "100")
# A wizard left alone this long is forgotten; its buttons stop working.
STALE_AFTER = timedelta(hours=24)
# Steps answered with a button, and steps answered by typing.
BUTTON_STEPS = ("project", "plan", "max", "expiry", "kind")
TEXT_STEPS = ("max_typed", "expiry_typed", "count_typed")


class NotAnOwner(DomainError):
    """Only the project's owner, with their Telegram account linked, may make codes."""


class WizardGone(DomainError):
    """The button belongs to a finished, cancelled or older wizard, or was tampered with."""


class NoPlans(DomainError):
    """The chosen project has no active plan to make codes for."""


@dataclass(frozen=True)
class WizardPrompt:
    """The next question: ``step``, and for button steps the (value, label) choices."""

    step: str
    nonce: str
    choices: list[tuple[str, str]] = field(default_factory=list)
    project_name: str | None = None
    plan_name: str | None = None
    max_activations: int | None = None
    expires_at: datetime | None = None
    timezone: str = "UTC"  # the owner's, for showing times as they typed them


@dataclass(frozen=True)
class WizardDone:
    project: Project
    plan: Plan
    batch: Batch | None
    codes: list[AccessCode]
    timezone: str = "UTC"


def _owner(session: Session, bot_project_id: int, telegram_user_id: int) -> Owner:
    project = session.get(Project, bot_project_id)
    if project is None or project.owner.telegram_user_id != telegram_user_id:
        raise NotAnOwner("only the linked owner may make codes")
    return project.owner


def is_linked_owner(session: Session, bot_project_id: int, telegram_user_id: int) -> bool:
    project = session.get(Project, bot_project_id)
    return project is not None and project.owner.telegram_user_id == telegram_user_id


def _owner_projects(session: Session, owner: Owner) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .where(Project.owner_id == owner.id, Project.deleted_at.is_(None))
            .order_by(Project.id)
        )
    )


def _conversation(
    session: Session, bot_project_id: int, telegram_user_id: int, now: datetime
) -> BotConversation | None:
    conversation = session.scalars(
        select(BotConversation).where(
            BotConversation.project_id == bot_project_id,
            BotConversation.telegram_user_id == telegram_user_id,
            BotConversation.kind == KIND,
        )
    ).first()
    if conversation is not None and now - conversation.updated_at > STALE_AFTER:
        session.delete(conversation)
        session.flush()
        return None
    return conversation


def start(
    session: Session, bot_project_id: int, telegram_user_id: int, now: datetime
) -> WizardPrompt:
    """Begin (or restart) the wizard for the linked owner; the first question."""
    owner = _owner(session, bot_project_id, telegram_user_id)
    projects = _owner_projects(session, owner)
    conversation = session.scalars(
        select(BotConversation).where(
            BotConversation.project_id == bot_project_id,
            BotConversation.telegram_user_id == telegram_user_id,
        )
    ).first()
    if conversation is None:
        conversation = BotConversation(
            project_id=bot_project_id, telegram_user_id=telegram_user_id
        )
        session.add(conversation)
    conversation.kind = KIND
    state = {"nonce": secrets.token_hex(3)}
    if len(projects) == 1:
        state["project_id"] = projects[0].id
        return _ask_plan(session, conversation, state, now)
    return _save(
        session,
        conversation,
        state,
        "project",
        now,
        choices=[(str(p.id), p.name) for p in projects],
    )


def choose(
    session: Session,
    bot_project_id: int,
    telegram_user_id: int,
    nonce: str,
    step: str,
    value: str,
    now: datetime,
) -> WizardPrompt | WizardDone:
    """The owner pressed a button of step ``step``; the next question, or the codes made."""
    owner = _owner(session, bot_project_id, telegram_user_id)
    conversation = _conversation(session, bot_project_id, telegram_user_id, now)
    if conversation is None or step not in BUTTON_STEPS:
        raise WizardGone("no such wizard")
    state = dict(conversation.state)
    if state.get("nonce") != nonce or state.get("step") != step:
        raise WizardGone("stale button")
    if step == "project":
        project = _pick(value, {p.id: p for p in _owner_projects(session, owner)})
        state["project_id"] = project.id
        return _ask_plan(session, conversation, state, now)
    project = _chosen_project(session, owner, state)
    if step == "plan":
        plan = _pick(value, {p.id: p for p in _active_plans(session, project.id)})
        state["plan_id"] = plan.id
        return _save(session, conversation, state, "max", now, choices=_max_choices())
    if step == "max":
        if value == "other":
            return _save(session, conversation, state, "max_typed", now)
        if value not in MAX_ACTIVATION_PRESETS:
            raise WizardGone("tampered value")
        state["max_activations"] = int(value)
        return _save(session, conversation, state, "expiry", now, choices=_expiry_choices())
    if step == "expiry":
        if value == "date":
            return _save(session, conversation, state, "expiry_typed", now)
        if value not in EXPIRY_PRESETS:
            raise WizardGone("tampered value")
        expires_at = expiry_from_preset(value, now)
        state["expires_at"] = expires_at.isoformat() if expires_at else None
        return _save(session, conversation, state, "kind", now, choices=_kind_choices())
    # step == "kind"
    if value == "bulk":
        return _save(session, conversation, state, "count_typed", now)
    if value != "single":
        raise WizardGone("tampered value")
    return _finish(session, conversation, owner, project, state, 1, now)


def answer_text(
    session: Session, bot_project_id: int, telegram_user_id: int, text: str, now: datetime
) -> WizardPrompt | WizardDone | None:
    """Typed input for the wizard; ``None`` when no wizard is waiting for text.

    A wrong value raises ``InvalidInput`` and leaves the wizard at the same question.
    """
    conversation = _conversation(session, bot_project_id, telegram_user_id, now)
    if conversation is None or conversation.state.get("step") not in TEXT_STEPS:
        return None
    owner = _owner(session, bot_project_id, telegram_user_id)
    state = dict(conversation.state)
    project = _chosen_project(session, owner, state)
    step = state["step"]
    if step == "max_typed":
        state["max_activations"] = parse_count(
            text, 1, MAX_ACTIVATIONS, "max_activations",
            N_("Max activations must be a whole number from %(low)s to %(high)s."),
        )
        return _save(session, conversation, state, "expiry", now, choices=_expiry_choices())
    if step == "expiry_typed":
        expires_at = parse_expiry_date(text, owner.timezone, now)
        state["expires_at"] = expires_at.isoformat()
        return _save(session, conversation, state, "kind", now, choices=_kind_choices())
    count = parse_count(
        text, 2, MAX_BATCH, "count",
        N_("The number of codes must be a whole number from %(low)s to %(high)s."),
    )
    return _finish(session, conversation, owner, project, state, count, now)


def cancel(session: Session, bot_project_id: int, telegram_user_id: int) -> bool:
    """End the wizard; whether there was one."""
    conversation = session.scalars(
        select(BotConversation).where(
            BotConversation.project_id == bot_project_id,
            BotConversation.telegram_user_id == telegram_user_id,
            BotConversation.kind == KIND,
        )
    ).first()
    if conversation is None:
        return False
    session.delete(conversation)
    session.flush()
    return True


def parse_count(text: str, low: int, high: int, field_name: str, refusal: str) -> int:
    """A whole number typed by a person: '1,000', '1 000' and '1000' alike; ``refusal`` says
    what is wanted, with ``%(low)s`` and ``%(high)s``."""
    cleaned = re.sub(r"[\s,_'.]", "", text or "")
    # ASCII digits only: '²'.isdigit() is true, and int('²') raises.
    number = int(cleaned) if is_ascii_number(cleaned, 9) else None
    if number is None or not low <= number <= high:
        raise InvalidInput.worded(field_name, refusal, low=low, high=high)
    return number


DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M")


def parse_expiry_date(text: str, timezone: str, now: datetime) -> datetime:
    """A custom expiry typed by the owner, read in the owner's time zone.

    A date alone means "valid through that day": the code expires at the next midnight there.
    """
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    cleaned = " ".join((text or "").split())
    local = None
    for fmt in DATETIME_FORMATS:
        try:
            local = datetime.strptime(cleaned, fmt)
            break
        except ValueError:
            continue
    if local is None:
        for fmt in DATE_FORMATS:
            try:
                day = datetime.strptime(cleaned, fmt).date()
            except ValueError:
                continue
            try:
                local = datetime.combine(day + timedelta(days=1), time())
            except OverflowError:  # 9999-12-31: the next midnight is past datetime's range
                raise InvalidInput("expiry", "Pick a date within the next ten years.") from None
            break
    if local is None:
        raise InvalidInput.worded(
            "expiry",
            N_("Type the date as YYYY-MM-DD (for example 2027-02-26), optionally with HH:MM."),
        )
    try:
        expires_at = local.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:  # 0001-01-01 05:00 in Tokyo is before year 1 in UTC
        raise InvalidInput("expiry", "The expiry date must be in the future.") from None
    if expires_at <= now:
        raise InvalidInput.worded("expiry", N_("The expiry date must be in the future."))
    if expires_at.date() > date(now.year + 10, 12, 31):
        raise InvalidInput.worded("expiry", N_("Pick a date within the next ten years."))
    return expires_at


def _pick(value: str, options: dict):
    chosen = parse_id(value)
    if chosen not in options:
        raise WizardGone("tampered value")
    return options[chosen]


def _chosen_project(session: Session, owner: Owner, state: dict) -> Project:
    project = session.get(Project, state.get("project_id") or 0)
    if project is None or project.owner_id != owner.id or project.deleted_at is not None:
        raise WizardGone("project gone")
    return project


def _active_plans(session: Session, project_id: int) -> list[Plan]:
    return list(
        session.scalars(
            select(Plan)
            .where(Plan.project_id == project_id, Plan.archived_at.is_(None))
            .order_by(Plan.id)
        )
    )


def _ask_plan(session, conversation, state, now) -> WizardPrompt:
    project = session.get(Project, state["project_id"])
    plans = _active_plans(session, project.id)
    if not plans:
        if conversation.id is None:
            session.expunge(conversation)
        else:
            session.delete(conversation)
            session.flush()
        raise NoPlans(project.name)
    return _save(
        session, conversation, state, "plan", now, choices=[(str(p.id), p.name) for p in plans]
    )


def _max_choices() -> list[tuple[str, str]]:
    return [(v, v) for v in MAX_ACTIVATION_PRESETS] + [("other", "Other…")]


def _expiry_choices() -> list[tuple[str, str]]:
    labels = {"never": "No"}
    return [(k, labels.get(k, v)) for k, v in EXPIRY_PRESETS.items()] + [
        ("date", "Pick a date…")
    ]


def _kind_choices() -> list[tuple[str, str]]:
    return [("single", "Single"), ("bulk", "Bulk…")]


def _save(session, conversation, state, step, now, choices=None) -> WizardPrompt:
    state["step"] = step
    conversation.state = state
    conversation.updated_at = now
    return _prompt(session, conversation, choices or [])


def _prompt(session: Session, conversation: BotConversation, choices) -> WizardPrompt:
    state = conversation.state
    project = session.get(Project, state["project_id"]) if state.get("project_id") else None
    plan = session.get(Plan, state["plan_id"]) if state.get("plan_id") else None
    owner = session.get(Project, conversation.project_id).owner  # only the owner gets this far
    expires = state.get("expires_at")
    return WizardPrompt(
        step=state["step"],
        nonce=state["nonce"],
        choices=choices or [],
        project_name=project.name if project else None,
        plan_name=plan.name if plan else None,
        max_activations=state.get("max_activations"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        timezone=owner.timezone or "UTC",
    )


def _finish(session, conversation, owner, project, state, count, now) -> WizardDone:
    expires = state.get("expires_at")
    request = CodeRequest(
        plan_id=state.get("plan_id") or 0,
        max_activations=state.get("max_activations") or 0,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        count=count,
    )
    batch, codes = create_codes(session, project.id, request, owner_id=owner.id, now=now, via="bot")
    session.delete(conversation)
    session.flush()
    return WizardDone(
        project=project,
        plan=codes[0].plan,
        batch=batch,
        codes=codes,
        timezone=owner.timezone or "UTC",
    )
