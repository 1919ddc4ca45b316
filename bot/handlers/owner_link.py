"""An owner links their Telegram account from the dashboard's link: ``/start <link token>``.
From then on the bot sends them its notices, and ``/newcode`` and ``/code`` answer them."""

import contextlib

from bot import texts
from bot.handlers.project import ProjectHandlers
from webapp import i18n, telegram
from webapp.domain import owner_link
from webapp.domain.customers import TelegramUser
from webapp.domain.errors import NotFound
from webapp.extensions import db
from webapp.models import utcnow

TOKEN_PREFIX = owner_link.TOKEN_PREFIX


def link_owner(handlers: ProjectHandlers, chat_id: int, user: TelegramUser, token: str) -> None:
    session = db.session
    try:
        owner = owner_link.link_telegram_account(
            session, token, user.id, user.username, utcnow(), via_project_id=handlers.project_id
        )
    except NotFound:
        session.rollback()
        handlers.reply(chat_id, texts.owner_link_invalid(handlers.voice(user).lang))
        return
    email, lang = owner.email, i18n.resolve(owner.language)
    session.commit()
    handlers.reply(chat_id, texts.owner_linked(email, lang))
    with contextlib.suppress(telegram.TelegramError):
        telegram.set_my_commands(handlers.token, texts.owner_commands(lang), chat_id=chat_id)
