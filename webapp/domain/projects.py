"""Projects (one bot each) and their resources: the channels and groups the bot administers."""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.ownership import owned_project
from webapp.i18n import D_
from webapp.models import (
    ActivityTotal,
    CodeTally,
    Plan,
    Project,
    Resource,
    token_digest,
)

MAX_NAME = 120
MAX_CONTACT = 255
# BotFather tokens look like 123456789:AAH…; the secret part is 35 characters today, but only
# Telegram decides what is valid, so this only rejects what cannot be a token at all.
BOT_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
CHAT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
CHAT_LINK = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/([A-Za-z][A-Za-z0-9_]{3,31})/?$")
CHAT_TYPES = {"channel": "Channel", "supergroup": "Supergroup", "group": "Group"}


@dataclass(frozen=True)
class ProjectSummary:
    project: Project
    resources: int
    usable_resources: int
    plans: int
    codes: int
    activations: int


def owner_projects(session: Session, owner_id: int) -> list[Project]:
    """The owner's live projects, oldest first."""
    return list(
        session.scalars(
            select(Project)
            .where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
            .order_by(Project.created_at, Project.id)
        )
    )


def owned_resource(session: Session, owner_id: int, project_id: int, resource_id: int) -> Resource:
    project = owned_project(session, owner_id, project_id)
    resource = session.get(Resource, resource_id)
    if resource is None or resource.project_id != project.id:
        raise NotFound(f"resource {resource_id}")
    return resource


def project_overview(session: Session, owner_id: int) -> list[ProjectSummary]:
    """Each of the owner's projects with the counts the dashboard home shows."""
    projects = owner_projects(session, owner_id)
    ids = [p.id for p in projects]
    if not ids:
        return []

    def counts(stmt) -> dict[int, int]:
        return dict(session.execute(stmt).all())

    resources = counts(
        select(Resource.project_id, func.count())
        .where(Resource.project_id.in_(ids))
        .group_by(Resource.project_id)
    )
    usable = counts(
        select(Resource.project_id, func.count())
        .where(
            Resource.project_id.in_(ids),
            Resource.bot_is_admin.is_(True),
            Resource.pending_since.is_(None),
            Resource.can_invite_users.is_(True),
            Resource.can_restrict_members.is_(True),
        )
        .group_by(Resource.project_id)
    )
    plans = counts(
        select(Plan.project_id, func.count())
        .where(Plan.project_id.in_(ids), Plan.archived_at.is_(None))
        .group_by(Plan.project_id)
    )
    # Kept by triggers (migration insight_02): a project's million codes are one row to read.
    tallies = session.execute(
        select(Project.id, CodeTally.codes, ActivityTotal.activations)
        .outerjoin(CodeTally, CodeTally.project_id == Project.id)
        .outerjoin(ActivityTotal, ActivityTotal.project_id == Project.id)
        .where(Project.id.in_(ids))
    ).all()
    codes = {pid: n or 0 for pid, n, _ in tallies}
    activations = {pid: n or 0 for pid, _, n in tallies}
    return [
        ProjectSummary(
            project=p,
            resources=resources.get(p.id, 0),
            usable_resources=usable.get(p.id, 0),
            plans=plans.get(p.id, 0),
            codes=codes.get(p.id, 0),
            activations=activations.get(p.id, 0),
        )
        for p in projects
    ]


def _check_token_shape(token: str) -> None:
    # A bot id is a 64-bit integer; a longer number would overflow the bot_user_id column.
    if not BOT_TOKEN.match(token) or int(token.partition(":")[0]) >= 2**63:
        raise InvalidInput(
            "bot_token",
            D_(
                "This does not look like a bot token. It has the form 123456789:AA… "
                "and comes from @BotFather."
            ),
        )


def check_new_project(session: Session, name: str, bot_token: str) -> tuple[str, str]:
    """The cleaned name and token, or ``InvalidInput`` naming the field that is wrong.

    Called before asking Telegram, so an obviously wrong token costs no request.
    """
    name = (name or "").strip()
    token = (bot_token or "").strip()
    if not name:
        raise InvalidInput("name", D_("Give the project a name."))
    if len(name) > MAX_NAME:
        raise InvalidInput.marked("name", D_("Use at most %(num)s characters."), num=MAX_NAME)
    _check_token_shape(token)
    taken = select(Project.id).where(
        (Project.bot_token_digest == token_digest(token))
        | ((Project.bot_user_id == int(token.partition(":")[0])) & Project.deleted_at.is_(None))
    )
    if session.scalar(taken) is not None:
        raise InvalidInput("bot_token", D_("This bot is already connected to a project."))
    return name, token


def create_project(
    session: Session,
    owner_id: int,
    name: str,
    bot_token: str,
    bot: dict,
    now: datetime,
) -> Project:
    """A new project for the bot Telegram described as ``bot`` (the getMe answer for the token)."""
    name, token = check_new_project(session, name, bot_token)
    if str(bot.get("id")) != token.partition(":")[0] or not bot.get("is_bot", True):
        raise InvalidInput(
            "bot_token", D_("Telegram answered for a different bot; check the token.")
        )
    if not bot.get("username"):
        raise InvalidInput("bot_token", D_("Telegram gave no username for this bot."))
    project = Project(
        owner_id=owner_id,
        name=name,
        bot_token=token,
        bot_user_id=int(bot["id"]),
        bot_username=bot["username"],
        created_at=now,
    )
    session.add(project)
    session.flush()
    return project


def check_replacement_token(session: Session, project: Project, bot_token: str) -> str:
    """The cleaned new token for ``project``'s bot, or ``InvalidInput`` on ``bot_token``.

    Called before asking Telegram, so a token that cannot be right costs no request.
    """
    token = (bot_token or "").strip()
    _check_token_shape(token)
    if token == project.bot_token:
        raise InvalidInput("bot_token", D_("This is the token the project already uses."))
    if session.scalar(select(Project.id).where(Project.bot_token_digest == token_digest(token))):
        raise InvalidInput("bot_token", D_("This token is already used by another project."))
    return token


def replace_bot_token(session: Session, project: Project, bot_token: str, bot: dict) -> Project:
    """Give ``project`` a new token for the same bot (BotFather revoked or regenerated the old).

    ``bot`` is Telegram's getMe answer for the new token; a token of any other bot is refused, so
    the project's customers, chats and codes stay with the bot they were made for. The bot's
    username is taken from the answer, in case it was renamed in @BotFather meanwhile.
    """
    token = check_replacement_token(session, project, bot_token)
    if str(bot.get("id")) != token.partition(":")[0]:
        raise InvalidInput(
            "bot_token", D_("Telegram answered for a different bot; check the token.")
        )
    if int(bot["id"]) != project.bot_user_id:
        raise InvalidInput.marked(
            "bot_token",
            D_("This token belongs to @%(other)s, not @%(bot)s. Paste the token of @%(bot)s."),
            other=bot.get("username") or bot["id"],
            bot=project.bot_username,
        )
    project.bot_token = token
    if bot.get("username"):
        project.bot_username = bot["username"]
    session.flush()
    return project


def rename_project(session: Session, project: Project, name: str) -> Project:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name", D_("Give the project a name."))
    if len(name) > MAX_NAME:
        raise InvalidInput.marked("name", D_("Use at most %(num)s characters."), num=MAX_NAME)
    project.name = name
    session.flush()
    return project


def set_project_contact(session: Session, project: Project, contact: str | None) -> Project:
    """How customers reach the owner (an @username, a link, an e-mail…); the bot's refusals say
    it. Empty clears it."""
    contact = (contact or "").strip() or None
    if contact is not None and len(contact) > MAX_CONTACT:
        raise InvalidInput.marked(
            "contact", D_("Use at most %(num)s characters."), num=MAX_CONTACT
        )
    project.contact = contact
    session.flush()
    return project


def parse_chat_reference(raw: str) -> int | str:
    """A chat id (int) or '@username' from what an owner typed: -100…, @name, name or t.me/name."""
    text = (raw or "").strip()
    if not text:
        raise InvalidInput("chat", D_("Enter the channel's or group's @username or its chat id."))
    if re.fullmatch(r"-?\d{1,20}", text):
        return int(text)
    link = CHAT_LINK.match(text)
    if link:
        return "@" + link.group(1)
    name = text[1:] if text.startswith("@") else text
    if CHAT_USERNAME.match(name):
        return "@" + name
    raise InvalidInput(
        "chat",
        D_("Enter an @username (like @goldclub) or a numeric chat id (like -1001234567890)."),
    )


def record_resource(
    session: Session,
    project_id: int,
    chat: dict,
    member: dict,
    now: datetime,
    *,
    require_admin: bool,
) -> tuple[Resource, bool]:
    """Save what Telegram says about a chat and the bot's place in it; (resource, created).

    ``chat`` is a getChat answer, ``member`` the bot's getChatMember answer. An owner adding a chat
    (``require_admin``) is refused unless the bot administers it; a re-check records any state.
    """
    chat_type = chat.get("type")
    if chat_type not in CHAT_TYPES:
        raise InvalidInput(
            "chat", D_("That is not a channel or group. Enter a channel, supergroup or group.")
        )
    is_admin = member.get("status") in ("administrator", "creator")
    if require_admin and not is_admin:
        raise InvalidInput(
            "chat",
            D_(
                "The bot is not an administrator there. Add the bot as an administrator "
                "(with the rights to invite users and ban users), then try again."
            ),
        )
    resource = session.scalars(
        select(Resource).where(Resource.project_id == project_id, Resource.chat_id == chat["id"])
    ).first()
    created = resource is None
    if created:
        resource = Resource(project_id=project_id, chat_id=int(chat["id"]), created_at=now)
        session.add(resource)
    resource.title = (chat.get("title") or str(chat["id"]))[:255]
    resource.username = chat.get("username")
    resource.chat_type = chat_type
    resource.bot_is_admin = is_admin
    resource.can_invite_users = is_admin and bool(member.get("can_invite_users"))
    resource.can_restrict_members = is_admin and bool(member.get("can_restrict_members"))
    if require_admin:
        # The owner adding the chat by hand vouches for it.
        resource.pending_since = resource.pending_by_user_id = None
    resource.updated_at = now
    session.flush()
    return resource, created


def project_resources(
    session: Session, project_id: int, include_pending: bool = False
) -> list[Resource]:
    """The project's channels and groups; chats waiting for the owner's acceptance only when
    asked for (the project page shows them, the plan form must not offer them)."""
    stmt = select(Resource).where(Resource.project_id == project_id)
    if not include_pending:
        stmt = stmt.where(Resource.pending_since.is_(None))
    return list(session.scalars(stmt.order_by(Resource.title)))


def reencrypt_bot_tokens(session: Session) -> int:
    """Write every project's bot token again, so it is encrypted with the first of
    TOKEN_ENCRYPTION_KEYS (key rotation); how many were written."""
    projects = session.scalars(select(Project).order_by(Project.id)).all()
    for project in projects:
        flag_modified(project, "bot_token")
    session.flush()
    return len(projects)
