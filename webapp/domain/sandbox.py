"""Sandbox projects: a bot, a channel and a group in the sandbox Telegram, and the people there.

One person plays everyone in the sandbox: the owner (the creator of the sandbox chats) and any
number of customers. Their sandbox user ids are derived from the dashboard owner's id, so the
sandbox needs no table of its own and one owner never sees another's personas.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.domain.errors import InvalidInput
from webapp.domain.projects import create_project, record_resource
from webapp.i18n import D_
from webapp.models import Project

PERSONA_BASE = 7_000_000_000
PERSONA_BLOCK = 1_000
CUSTOMER_NAMES = (
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jasmin",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomoko",
)
# t.me/<bot>?start=<payload>, t.me/+<invite hash>: the links a sandbox user may open.
START_LINK = re.compile(r"^(?:https?://)?t\.me/([A-Za-z][A-Za-z0-9_]{3,31})(?:\?start=([\w-]{1,64}))?$")
INVITE_LINK = re.compile(r"^(?:https?://)?t\.me/\+[\w-]{4,64}$")


@dataclass(frozen=True)
class Persona:
    user_id: int
    first_name: str
    is_owner: bool


@dataclass(frozen=True)
class SandboxBot:
    token: str
    user_id: int
    username: str
    first_name: str
    channel_id: int
    group_id: int


def owner_persona(owner_id: int) -> Persona:
    """The sandbox user who plays the dashboard owner: creator of the sandbox chats."""
    return Persona(PERSONA_BASE + owner_id * PERSONA_BLOCK, "You (owner)", True)


def customer_persona(owner_id: int, number: int) -> Persona:
    """The ``number``-th (1-based) sandbox customer of this dashboard owner."""
    if not 1 <= number < PERSONA_BLOCK:
        raise InvalidInput.marked(
            "persona", D_("A sandbox has at most %(num)s customers."), num=PERSONA_BLOCK - 1
        )
    name = CUSTOMER_NAMES[(number - 1) % len(CUSTOMER_NAMES)]
    if number > len(CUSTOMER_NAMES):
        name = f"{name} {number}"
    return Persona(owner_persona(owner_id).user_id + number, name, False)


def persona_for(owner_id: int, user_id: int) -> Persona:
    """The persona with ``user_id``, or ``InvalidInput`` if it is not one of this owner's."""
    number = int(user_id) - owner_persona(owner_id).user_id
    if number == 0:
        return owner_persona(owner_id)
    if 1 <= number < PERSONA_BLOCK:
        return customer_persona(owner_id, number)
    raise InvalidInput("persona", D_("That is not one of your sandbox people."))


def persona_ids(owner_id: int) -> tuple[int, int]:
    """The half-open range of sandbox user ids that belong to this owner."""
    low = owner_persona(owner_id).user_id
    return low, low + PERSONA_BLOCK


def new_sandbox_bot(name: str) -> SandboxBot:
    """A fresh identity for a sandbox bot and its two chats (random, so never reused)."""
    bot_id = 8_000_000_000 + secrets.randbelow(1_000_000_000)
    channel, group = (-(10**12 + 10**9 + secrets.randbelow(9 * 10**9)) for _ in range(2))
    return SandboxBot(
        token=f"{bot_id}:{secrets.token_urlsafe(26)}",
        user_id=bot_id,
        username=f"Sandbox{bot_id % 10**6:06d}Bot",
        first_name=f"{name} (sandbox)"[:64],
        channel_id=channel,
        group_id=group,
    )


def create_sandbox_project(
    session: Session,
    owner_id: int,
    name: str,
    token: str,
    bot: dict,
    chats: list[tuple[dict, dict]],
    now: datetime,
) -> Project:
    """A project for a sandbox bot, with its chats recorded as resources.

    ``bot`` is the sandbox's getMe answer; ``chats`` pairs each getChat answer with the bot's
    getChatMember answer there, as for a real bot.
    """
    project = create_project(session, owner_id, name, token, bot, now)
    project.sandbox = True
    for chat, member in chats:
        record_resource(session, project.id, chat, member, now, require_admin=True)
    session.flush()
    return project


def sandbox_projects(session: Session, owner_id: int) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .where(
                Project.owner_id == owner_id,
                Project.sandbox.is_(True),
                Project.deleted_at.is_(None),
            )
            .order_by(Project.created_at, Project.id)
        )
    )


def parse_sandbox_link(raw: str) -> tuple[str, str, str | None]:
    """("start", bot username, payload) or ("invite", link, None) for a t.me link typed or tapped
    in the sandbox; ``InvalidInput`` for anything else."""
    link = (raw or "").strip()
    start = START_LINK.match(link)
    if start:
        return "start", start.group(1), start.group(2)
    if INVITE_LINK.match(link):
        return "invite", link, None
    raise InvalidInput(
        "link",
        D_("Paste a t.me link: an activation link (t.me/YourBot?start=…) or an invite link."),
    )
