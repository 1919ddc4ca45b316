"""Customers joining and leaving the resources (``chat_member``) and asking to join
(``chat_join_request``): joins recorded, spent links revoked, the unwelcome removed again."""

import logging

from telebot import types

from bot import texts
from bot.handlers.project import ProjectHandlers, telegram_user
from webapp import jobs, telegram
from webapp.domain import memberships
from webapp.extensions import db
from webapp.models import utcnow
from webapp.throttle import bot_id_of

log = logging.getLogger(__name__)

MEMBER_STATUSES = ("member", "administrator", "creator")


def _is_in(member: types.ChatMember | None) -> bool:
    if member is None:
        return False
    if member.status == "restricted":
        return bool(getattr(member, "is_member", False))
    return member.status in MEMBER_STATUSES


def on_chat_member(handlers: ProjectHandlers, update: types.ChatMemberUpdated) -> None:
    session = db.session
    now = utcnow()
    user = update.new_chat_member.user
    if user.is_bot:
        return
    was_in, is_in = _is_in(update.old_chat_member), _is_in(update.new_chat_member)
    if is_in and not was_in:
        link = update.invite_link.invite_link if update.invite_link else None
        event = memberships.record_join(
            session, handlers.project_id, update.chat.id, user.id, link, now,
            link_made_by_bot=made_by_bot(handlers, update.invite_link),
        )
        title = event.resource.title if event.resource else ""
        lang = handlers.voice(telegram_user(user)).lang
        session.commit()
        if event.spent_link:
            # member_limit=1 counts members present: once they leave it would work again.
            revoke_link(handlers, update.chat.id, event.spent_link)
        if event.removal_id is not None:
            carry_out_removal(
                handlers, event.removal_id, user.id, title, event.unwelcome, event.can_message
            )
        elif event.unwelcome:
            remove_unwelcome(
                handlers, update.chat.id, user.id, title, event.unwelcome, event.can_message,
                lang,
            )
    elif was_in and not is_in:
        memberships.record_leave(session, handlers.project_id, update.chat.id, user.id, now)
        session.commit()


def on_join_request(handlers: ProjectHandlers, request: types.ChatJoinRequest) -> None:
    session = db.session
    user_id = request.from_user.id
    link = request.invite_link.invite_link if request.invite_link else None
    verdict = memberships.judge_join_request(
        session, handlers.project_id, request.chat.id, user_id, link,
        made_by_bot(handlers, request.invite_link), utcnow(),
    )
    lang = handlers.voice(telegram_user(request.from_user)).lang
    session.rollback()
    if verdict.action == "leave":
        return  # not a resource, or the owner's own request to decide
    try:
        if verdict.action == "approve":
            telegram.approve_join_request(handlers.token, request.chat.id, user_id)
            return
        # Telegram lets the bot write to a requester only until the request is decided:
        # the answer goes first, the decline after.
        chat_id = getattr(request, "user_chat_id", None) or user_id
        handlers.reply(
            chat_id, texts.join_request_declined(verdict.title or request.chat.title, lang)
        )
        telegram.decline_join_request(handlers.token, request.chat.id, user_id)
    except telegram.TelegramError as exc:
        log.warning("project %s: join request of %s: %s", handlers.project_id, user_id,
                    handlers.describe(exc))


def made_by_bot(handlers: ProjectHandlers, invite_link) -> bool:
    """Whether an invite link of an update is one this bot made (an Admit link)."""
    creator = getattr(invite_link, "creator", None)
    return creator is not None and str(creator.id) == bot_id_of(handlers.token)


def remove_unwelcome(
    handlers: ProjectHandlers, chat_id: int, user_id: int, title: str, reason: str,
    can_message: bool, lang: str = "en",
) -> None:
    """Someone came in through an Admit link without access of their own: out again.

    They are told why only if they ever started the bot: Telegram lets no bot write first.
    """
    log.info("project %s: removing %s from %s (%s)", handlers.project_id, user_id, chat_id,
             reason)
    try:
        telegram.remove_member(handlers.token, chat_id, user_id)
    except telegram.BanNotLifted as exc:
        # Out, but banned: a later paid Join link would fail for them. A job keeps trying.
        log.warning("project %s: %s removed but still banned: %s", handlers.project_id,
                    user_id, handlers.describe(exc))
        queue_lift_ban(handlers, chat_id, user_id)
    except telegram.TelegramError as exc:
        log.warning("project %s: could not remove %s: %s", handlers.project_id, user_id,
                    handlers.describe(exc))
        return
    if not can_message:
        return
    if reason == "someone_elses_link":
        handlers.reply(user_id, texts.removed_someone_elses_link(title, lang))
    else:
        handlers.reply(user_id, texts.removed_no_access(title, lang))


def carry_out_removal(
    handlers: ProjectHandlers, removal_id: int, user_id: int, title: str, reason: str,
    can_message: bool,
) -> None:
    """An unwelcome customer's removal, written with their join: done here at once, or by the
    lifecycle jobs (which re-check their access first) if Telegram does not let it be now."""
    if jobs.carry_out_removal_here(removal_id) != "done" or not can_message:
        return
    if reason == "someone_elses_link":
        handlers.reply(user_id, texts.removed_someone_elses_link(title))
    else:
        handlers.reply(user_id, texts.removed_no_access(title))


def queue_lift_ban(handlers: ProjectHandlers, chat_id: int, user_id: int) -> None:
    from webapp.jobs import enqueue_lift_ban

    try:
        enqueue_lift_ban(handlers.project_id, chat_id, user_id)
    except Exception:
        log.exception("project %s: could not queue lifting a ban", handlers.project_id)


def revoke_link(handlers: ProjectHandlers, chat_id: int, link: str) -> None:
    try:
        telegram.revoke_invite_link(handlers.token, chat_id, link)
    except telegram.TelegramError as exc:
        log.info("project %s: could not revoke a used link: %s", handlers.project_id,
                 handlers.describe(exc))
