"""The bot's own place in chats (``my_chat_member``): made an admin of a channel or group (a
resource, or one pending for the owner), its rights changed or lost, blocked or unblocked by a
person; and a basic group upgraded to a supergroup."""

import logging

from telebot import types

from bot import texts
from bot.handlers.project import ProjectHandlers
from webapp.domain import resources
from webapp.extensions import db
from webapp.models import utcnow

log = logging.getLogger(__name__)


def on_my_chat_member(handlers: ProjectHandlers, update: types.ChatMemberUpdated) -> None:
    session = db.session
    now = utcnow()
    chat = update.chat
    new = update.new_chat_member
    if chat.type == "private":
        blocked = new.status == "kicked"
        resources.set_bot_blocked(session, handlers.project_id, chat.id, blocked, now)
        session.commit()
        return
    change = resources.BotStatusChange(
        chat_id=chat.id,
        chat_type=chat.type,
        title=chat.title,
        username=chat.username,
        new_status=new.status,
        can_invite_users=bool(getattr(new, "can_invite_users", False)),
        can_restrict_members=bool(getattr(new, "can_restrict_members", False)),
        by_user_id=update.from_user.id if update.from_user else None,
    )
    result = resources.apply_bot_status(session, handlers.project_id, change, now)
    if result.kind == "none":
        session.rollback()
        return
    if result.resource is not None:
        title, chat_type = result.resource.title, result.resource.chat_type
    else:
        title, chat_type = chat.title or str(chat.id), chat.type
    owner_chat = handlers.facts().owner_chat
    lang = handlers.owner_lang()
    session.commit()
    if not owner_chat:
        return
    if result.kind == "pending":
        notice = texts.resource_pending(chat_type, chat.id, lang)
    elif result.kind == "added":
        notice = texts.resource_added(title, chat_type, result.missing_rights, lang)
    elif result.kind == "updated":
        notice = texts.resource_updated(title, result.missing_rights, lang)
    elif result.kind == "not_admin":
        notice = texts.resource_not_admin(title, chat_type, lang)
    else:
        notice = texts.resource_lost(title, lang)
    handlers.reply(owner_chat, notice)


def on_chat_migrated(handlers: ProjectHandlers, message: types.Message) -> None:
    """A basic group became a supergroup: its resource follows to the new chat id."""
    if message.migrate_to_chat_id:
        old_id, new_id = message.chat.id, message.migrate_to_chat_id
    else:
        old_id, new_id = message.migrate_from_chat_id, message.chat.id
    session = db.session
    resource = resources.migrate_chat(session, handlers.project_id, old_id, new_id, utcnow())
    session.commit()
    if resource is not None:
        log.info("project %s: chat %s is now supergroup %s", handlers.project_id, old_id, new_id)
