"""The linked owner in Telegram: ``/code <code>`` with Pause/Resume, and the daily digest.

``/code K7QF-M2XD-9PRT`` answers the owner with the code's usage and status and a Pause or Resume
button. Once a day the hourly job ``send_attention_digests`` sends each owner, through each of
their bots, what needs attention in that project (failed removals with a Retry button, chats
without the rights the bot needs, undelivered join links, codes running out) and whose access
ended since the last digest: one summary instead of a message per ending.

Only the owner linked to the bot's project may use any of it; callback data is trusted for
nothing but the ids it carries, which are checked against the project again.
"""

import logging
from datetime import datetime

from telebot.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
from bot.redaction import describe
from bot.texts import esc
from webapp import clock, i18n, telegram
from webapp.domain import attention, bot_health, code_control, lifecycle
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.newcode_wizard import is_linked_owner
from webapp.extensions import db
from webapp.models import AccessCode, Owner, Project, Removal

log = logging.getLogger(__name__)

PREFIX = "oc"
MAX_DIGEST_ITEMS = 10
MAX_ITEM = 300  # characters of one item, so ten fit Telegram's 4096 with room to spare


# ---- /code ------------------------------------------------------------------------------------


def code_keyboard(code: AccessCode, lang: str = "en") -> InlineKeyboardMarkup | None:
    if code.deleted_at is not None:
        return None
    markup = InlineKeyboardMarkup()
    if code.paused_at is None:
        label, action = texts.code_pause_button(lang), "pause"
    else:
        label, action = texts.code_resume_button(lang), "resume"
    markup.row(InlineKeyboardButton(label, callback_data=f"{PREFIX}:{action}:{code.id}"))
    return markup


def code_text(
    code: AccessCode, now: datetime, timezone: str, notice: str = "", lang: str = "en"
) -> str:
    return texts.code_card(
        code.code, code.status(now), code.plan.name,
        code.activation_count if code.deleted_at is None else None, code.max_activations,
        code.expires_at, code.note, timezone, lang, notice,
    )


def on_code_command(handlers, chat_id: int, user, payload: str) -> None:
    """``/code <code>``: the code's usage and status, with Pause/Resume, for the linked owner."""
    session = db.session
    lang = handlers.owner_lang()
    if not is_linked_owner(session, handlers.project_id, user.id):
        handlers.reply(chat_id, texts.code_owner_only(lang))
        return
    if not payload:
        handlers.reply(chat_id, texts.code_usage_hint(lang))
        return
    try:
        code = code_control.find_code(session, handlers.project_id, payload)
    except NotFound:
        handlers.reply(chat_id, texts.code_not_found(payload[:64], lang))
        return
    project = session.get(Project, handlers.project_id)
    text = code_text(code, clock.now(), project.owner.timezone, lang=lang)
    handlers.reply(chat_id, text, code_keyboard(code, lang))


def on_callback(handlers, callback, chat_id: int, user, parts: list[str]) -> None:
    """Pause, Resume and Retry buttons; anyone but the linked owner is refused."""
    session = db.session
    lang = handlers.owner_lang()
    if len(parts) != 3 or not parts[2].isdigit():
        handlers.answer_callback(callback.id, texts.owner_button_gone(lang))
        return
    action, target = parts[1], int(parts[2])
    if not is_linked_owner(session, handlers.project_id, user.id):
        handlers.answer_callback(callback.id, texts.owner_only_action(lang))
        return
    now = clock.now()
    if action in ("pause", "resume"):
        change = code_control.pause_code if action == "pause" else code_control.resume_code
        try:
            changed = change(
                session, handlers.project_id, target, owner_id=_owner_id(handlers), now=now,
                via="telegram",
            )
        except (NotFound, InvalidInput):
            session.rollback()
            handlers.answer_callback(callback.id, texts.code_unchangeable(lang))
            return
        session.commit()
        code = session.get(AccessCode, target)
        timezone = session.get(Project, handlers.project_id).owner.timezone
        notice = texts.code_changed(action, changed, lang)
        text = code_text(code, now, timezone, notice, lang)
        handlers.answer_callback(callback.id, texts.code_changed(action, True, lang))
        handlers.reply(chat_id, text, code_keyboard(code, lang))
    elif action == "retry":
        removal = session.get(Removal, target)
        if removal is None or removal.project_id != handlers.project_id:
            handlers.answer_callback(callback.id, texts.owner_button_gone(lang))
            return
        retried = lifecycle.retry_removal(session, handlers.project_id, removal.id, now)
        session.commit()
        if retried:
            from webapp import jobs

            jobs.enqueue_removals([removal.id])
        handlers.answer_callback(callback.id, texts.retry_answer(retried, lang))
    else:
        handlers.answer_callback(callback.id, texts.owner_button_gone(lang))


def _owner_id(handlers) -> int:
    return db.session.get(Project, handlers.project_id).owner_id


# ---- The daily digest --------------------------------------------------------------------------


def digest_text(project: Project, items, ended, timezone: str, lang: str = "en") -> str:
    # The attention items are the dashboard's wording (English until its catalogue exists).
    lines = [texts.digest_heading(project.name, lang)]
    if items:
        lines.append("\n" + texts.digest_needs_attention(lang))
        for item in items[:MAX_DIGEST_ITEMS]:
            lines.append(f"• {esc(_cut(item.problem))}\n  <i>{esc(_cut(item.todo))}</i>")
        if len(items) > MAX_DIGEST_ITEMS:
            lines.append(texts.digest_more_in_dashboard(len(items) - MAX_DIGEST_ITEMS, lang))
    if ended:
        lines.append("\n" + texts.digest_access_ended(len(ended), lang))
        for end in ended[:MAX_DIGEST_ITEMS]:
            lines.append(texts.digest_ended_line(
                end.customer.display_name, end.plan_name, end.reason, lang
            ))
        if len(ended) > MAX_DIGEST_ITEMS:
            lines.append(texts.digest_more(len(ended) - MAX_DIGEST_ITEMS, lang))
    return "\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ITEM else text[: MAX_ITEM - 1] + "…"


def digest_keyboard(items, lang: str = "en") -> InlineKeyboardMarkup | None:
    retries = [i for i in items[:MAX_DIGEST_ITEMS] if i.removal_id is not None]
    if not retries:
        return None
    markup = InlineKeyboardMarkup()
    for item in retries[:10]:
        label = texts.retry_button(item.problem, lang)[:60]
        markup.row(InlineKeyboardButton(label, callback_data=f"{PREFIX}:retry:{item.removal_id}"))
    return markup


def send_attention_digests() -> dict:
    """RQ job (hourly, from ``rq cron``): each owner's daily digest, once a day.

    The owner is claimed in the database before anything is sent, so two cron processes never
    send it twice; a project with nothing to say sends nothing.
    """
    from webapp.queues import get_redis
    from webapp.worker import app_context

    sent = 0
    with app_context():
        session = db.session
        now = clock.now()
        for owner_id in attention.due_digest_owner_ids(session, now):
            owner = session.get(Owner, owner_id)
            since = owner.digest_sent_at or now - attention.DIGEST_EVERY
            if not attention.claim_digest(session, owner_id, now):
                session.rollback()
                continue
            try:
                polls = bot_health.last_polls(get_redis(), [p.id for p in owner.projects])
            except Exception:  # noqa: BLE001 - leave the bot item out rather than fail
                polls = None
            inbox = attention.needs_attention(session, owner_id, now, last_polls=polls)
            ended = attention.access_ended_since(session, owner_id, since, now)
            lang = i18n.resolve(owner.language)
            messages = []
            for project in owner.projects:
                if project.deleted_at is not None:
                    continue
                items = [i for i in inbox.items if i.project.id == project.id]
                ends = [e for e in ended if e.project_id == project.id]
                if items or ends:
                    messages.append(
                        (project.bot_token,
                         digest_text(project, items, ends, owner.timezone, lang),
                         digest_keyboard(items, lang))
                    )
            chat_id = owner.telegram_user_id
            session.commit()  # the claim stands even if Telegram is away: tomorrow's comes
            for token, text, markup in messages:
                try:
                    telegram.send_message(token, chat_id, text, reply_markup=markup)
                    sent += 1
                except telegram.TelegramError as exc:
                    log.warning("digest to owner %s not sent: %s", owner_id, describe(exc, token))
    return {"sent": sent}
