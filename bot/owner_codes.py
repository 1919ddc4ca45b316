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

from bot.redaction import describe
from bot.texts import esc, when
from webapp import clock, telegram
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


def code_keyboard(code: AccessCode) -> InlineKeyboardMarkup | None:
    if code.deleted_at is not None:
        return None
    markup = InlineKeyboardMarkup()
    if code.paused_at is None:
        markup.row(InlineKeyboardButton("⏸ Pause", callback_data=f"{PREFIX}:pause:{code.id}"))
    else:
        markup.row(InlineKeyboardButton("▶️ Resume", callback_data=f"{PREFIX}:resume:{code.id}"))
    return markup


def code_text(code: AccessCode, now: datetime, timezone: str, notice: str = "") -> str:
    status = code.status(now)
    lines = [f"🔑 <code>{esc(code.code)}</code> — <b>{esc(status)}</b>"]
    lines.append(f"Plan: {esc(code.plan.name)}")
    if code.deleted_at is None:
        lines.append(f"Usage: {code.activation_count}/{code.max_activations} activations")
    lines.append(
        "Expires: " + (when(code.expires_at, timezone) if code.expires_at else "never")
    )
    if code.note:
        lines.append(f"Note: {esc(code.note)}")
    if status == "paused":
        lines.append("\nNew activations are refused; everyone it let in keeps their access.")
    if notice:
        lines.insert(0, notice + "\n")
    return "\n".join(lines)


def on_code_command(handlers, chat_id: int, user, payload: str) -> None:
    """``/code <code>``: the code's usage and status, with Pause/Resume, for the linked owner."""
    session = db.session
    if not is_linked_owner(session, handlers.project_id, user.id):
        handlers.reply(chat_id, "Only the owner of this bot can look up codes.")
        return
    if not payload:
        handlers.reply(chat_id, "Send <code>/code</code> and the code, e.g. "
                                "<code>/code K7QF-M2XD-9PRT</code>.")
        return
    try:
        code = code_control.find_code(session, handlers.project_id, payload)
    except NotFound:
        handlers.reply(chat_id, f"This project has no code {esc(payload[:64])}.")
        return
    project = session.get(Project, handlers.project_id)
    text = code_text(code, clock.now(), project.owner.timezone)
    markup = code_keyboard(code)
    handlers.reply(chat_id, text, markup)


def on_callback(handlers, callback, chat_id: int, user, parts: list[str]) -> None:
    """Pause, Resume and Retry buttons; anyone but the linked owner is refused."""
    session = db.session
    if len(parts) != 3 or not parts[2].isdigit():
        handlers.answer_callback(callback.id, "This button no longer works.")
        return
    action, target = parts[1], int(parts[2])
    if not is_linked_owner(session, handlers.project_id, user.id):
        handlers.answer_callback(callback.id, "Only the owner of this bot can do that.")
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
            handlers.answer_callback(callback.id, "This code can no longer be changed.")
            return
        session.commit()
        code = session.get(AccessCode, target)
        timezone = session.get(Project, handlers.project_id).owner.timezone
        done = "Paused." if action == "pause" else "Resumed."
        text = code_text(code, now, timezone, done if changed else "No change: " + done.lower())
        markup = code_keyboard(code)
        handlers.answer_callback(callback.id, done)
        handlers.reply(chat_id, text, markup)
    elif action == "retry":
        removal = session.get(Removal, target)
        if removal is None or removal.project_id != handlers.project_id:
            handlers.answer_callback(callback.id, "This button no longer works.")
            return
        retried = lifecycle.retry_removal(session, handlers.project_id, removal.id, now)
        session.commit()
        if retried:
            from webapp import jobs

            jobs.enqueue_removals([removal.id])
        handlers.answer_callback(
            callback.id, "Trying again." if retried else "Not failed any more: nothing to retry."
        )
    else:
        handlers.answer_callback(callback.id, "This button no longer works.")


def _owner_id(handlers) -> int:
    return db.session.get(Project, handlers.project_id).owner_id


# ---- The daily digest --------------------------------------------------------------------------


def digest_text(project: Project, items, ended, timezone: str) -> str:
    lines = [f"🗞 <b>{esc(project.name)}</b> — your daily summary"]
    if items:
        lines.append("\n<b>Needs attention</b>")
        for item in items[:MAX_DIGEST_ITEMS]:
            lines.append(f"• {esc(_cut(item.problem))}\n  <i>{esc(_cut(item.todo))}</i>")
        if len(items) > MAX_DIGEST_ITEMS:
            lines.append(f"…and {len(items) - MAX_DIGEST_ITEMS} more in the dashboard.")
    if ended:
        lines.append(f"\n<b>Access ended</b> ({len(ended)})")
        for end in ended[:MAX_DIGEST_ITEMS]:
            why = {"rolled_back": "rolled back", "ended_by_owner": "ended by you"}.get(
                end.reason or "", "period over"
            )
            lines.append(f"• {esc(end.customer.display_name)} — {esc(end.plan_name)} ({why})")
        if len(ended) > MAX_DIGEST_ITEMS:
            lines.append(f"…and {len(ended) - MAX_DIGEST_ITEMS} more.")
    return "\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ITEM else text[: MAX_ITEM - 1] + "…"


def digest_keyboard(items) -> InlineKeyboardMarkup | None:
    retries = [i for i in items[:MAX_DIGEST_ITEMS] if i.removal_id is not None]
    if not retries:
        return None
    markup = InlineKeyboardMarkup()
    for item in retries[:10]:
        label = f"🔁 Retry: {item.problem}"[:60]
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
            messages = []
            for project in owner.projects:
                if project.deleted_at is not None:
                    continue
                items = [i for i in inbox.items if i.project.id == project.id]
                ends = [e for e in ended if e.project_id == project.id]
                if items or ends:
                    messages.append(
                        (project.bot_token, digest_text(project, items, ends, owner.timezone),
                         digest_keyboard(items))
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
