"""``/start`` without a code (the welcome and the plans), ``/help``, ``/cancel``, and the answers
to what the bot does not understand."""

from bot import keyboards, texts
from bot.handlers.project import ProjectHandlers
from webapp.domain import code_entry, newcode_wizard
from webapp.domain.customers import TelegramUser
from webapp.extensions import db


def welcome(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    session = db.session
    code_entry.clear_pending_step(session, handlers.project_id, user.id)
    newcode_wizard.cancel(session, handlers.project_id, user.id)
    plans = [(p.id, p.name) for p in code_entry.offered_plans(session, handlers.project_id)]
    voice = handlers.voice(user)
    text = texts.welcome(
        handlers.facts().name, bool(plans), voice.lang, voice.custom.get("welcome"),
        user.first_name,
    )
    session.commit()
    handlers.reply(chat_id, text, keyboards.plans(plans) if plans else None)


def on_help(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    is_owner = newcode_wizard.is_linked_owner(db.session, handlers.project_id, user.id)
    lang = handlers.owner_lang() if is_owner else handlers.voice(user).lang
    handlers.reply(chat_id, texts.help_text(is_owner, lang))


def on_cancel(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    session = db.session
    had_wizard = newcode_wizard.cancel(session, handlers.project_id, user.id)
    had_step = code_entry.clear_pending_step(session, handlers.project_id, user.id)
    session.commit()
    done = had_wizard or had_step
    lang = handlers.voice(user).lang
    handlers.reply(chat_id, texts.cancelled(lang) if done else texts.nothing_to_cancel(lang))


def unknown_command(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    handlers.reply(chat_id, texts.unknown_command(handlers.voice(user).lang))


def text_only(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    """A photo, sticker or file: the bot reads text only."""
    handlers.reply(chat_id, texts.text_only(handlers.voice(user).lang))


def nothing_pending(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    """Text that answers no question the bot asked and is no code."""
    handlers.reply(chat_id, texts.nothing_pending(handlers.voice(user).lang))


def button_gone(handlers: ProjectHandlers, callback_id: str, user: TelegramUser) -> None:
    handlers.answer_callback(callback_id, texts.button_gone(handlers.voice(user).lang))
