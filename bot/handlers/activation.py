"""A customer's code: ``/start <code>`` from an activation link, or a plan's "Access code" button
and the typed code; the confirmation with the Join buttons, or the refusal."""

import functools
import logging
from datetime import timedelta

from bot import keyboards, texts
from bot.handlers.project import ProjectHandlers
from bot.join_links import JoinLinks, fresh_link_needs, issue_join_links, read_link_needs
from bot.outbox import Target, deliver_customer_message, settle_customer_message
from bot.redaction import redacted_traceback
from webapp import i18n, jobs, telegram
from webapp.domain import code_entry, memberships, outbox
from webapp.domain.attempts import SWARM_ACCOUNTS, attempts_left
from webapp.domain.customers import TelegramUser
from webapp.domain.errors import (
    AlreadyActivated,
    CodeExpired,
    CodePaused,
    CodeUsedUp,
    NotFound,
    TooManyAttempts,
    UnknownCode,
)
from webapp.domain.ids import parse_id
from webapp.domain.lifecycle import BLOCKED_ERROR, Outcome
from webapp.extensions import db
from webapp.models import Plan, utcnow
from webapp.queues import get_redis

log = logging.getLogger(__name__)

# A code that exists but cannot be used now: what the customer is told, naming whom to ask.
REFUSALS = {
    CodeExpired: texts.code_expired,
    CodeUsedUp: texts.code_used_up,
    CodePaused: texts.code_paused,
}


def activate(handlers: ProjectHandlers, chat_id: int, user: TelegramUser, raw_code: str) -> None:
    session = db.session
    now = utcnow()
    voice = handlers.voice(user)
    lang = voice.lang
    try:
        result = code_entry.enter_code(
            session, get_redis(), handlers.project_id, raw_code, user, now
        )
    # A refusal changes nothing but the funnel's record of it, which is kept.
    except TooManyAttempts as exc:
        session.commit()
        handlers.reply(chat_id, texts.too_many_attempts(exc.retry_after_seconds, lang))
        return
    except UnknownCode as exc:
        session.commit()
        limit = getattr(exc, "attempts_allowed", attempts_left(0))
        left = attempts_left(getattr(exc, "wrong_attempts", 0), limit)
        handlers.reply(chat_id, texts.unknown_code_last_try(left, lang, voice.contact))
        if getattr(exc, "alert_owner", False):
            alert_owner_of_guessing(handlers)
        return
    except (CodeExpired, CodeUsedUp, CodePaused) as exc:
        session.commit()
        handlers.reply(chat_id, REFUSALS[type(exc)](lang, voice.contact))
        return
    except AlreadyActivated:
        session.commit()
        already_activated(handlers, chat_id, user, raw_code)
        return
    # The confirmation and the owner's notice are promised in the activation's transaction
    # (the outbox), claimed by this handler, which sends the confirmation right away: if it
    # cannot (a crash, Telegram away), the sweep sends it later. Committed before any
    # Telegram call: whatever happens next, the activation stands.
    project = handlers.facts()
    owner_chat = project.owner_chat
    owner_lang = i18n.resolve(project.owner_language)
    text = texts.activated(
        project.name, result.plan_name, result.ends_at, result.extended, lang, voice.tz,
        voice.custom.get("confirmation"), user.first_name,
    )
    ids = {"customer_id": result.customer_id, "subscription_id": result.subscription_id,
           "plan_id": result.plan_id}
    claimed = outbox.write_claimed(session, handlers.project_id, outbox.CONFIRMATION, chat_id,
                                   text, now, **ids)
    if owner_chat:
        who = texts.person(user.first_name, user.last_name, user.username, user.id)
        notice_text = texts.owner_notice(
            who, result.code_text, project.name, result.plan_name, result.activations_left,
            result.max_activations, owner_lang,
        )
        outbox.write(session, handlers.project_id, outbox.OWNER_NOTICE, owner_chat, notice_text,
                     now, **ids)
    resource_ids = [r.id for r in result.resources]
    target = Target(handlers.token, result.customer_id, resource_ids,
                    [r.title for r in result.resources], lang)
    # What the Join links need is known (rows just made) or read in this transaction too.
    needs = fresh_link_needs(result, user.username, user.id) or read_link_needs(
        session, handlers.project_id, result.customer_id, resource_ids, now
    )
    session.commit()
    delivery = deliver_customer_message(
        session, claimed, now, functools.partial(send_now, handlers), target, needs
    )
    follow_up = settle_customer_message(session, claimed, delivery, utcnow())
    if owner_chat and delivery.missing:
        outbox.write(session, handlers.project_id, outbox.OWNER_NOTICE, owner_chat,
                     texts.owner_notice_links_pending(delivery.missing, owner_lang), utcnow(),
                     **ids)
    session.commit()
    if owner_chat:
        handlers.owner_notices.wake()  # after the customer's answer, which goes first
    if follow_up is not None:
        jobs.enqueue_outbox_messages([follow_up])


def send_now(handlers: ProjectHandlers, token: str, chat_id: int, text: str, markup,
             now) -> Outcome:
    """The customer's immediate answer: paced best effort, Telegram's short waits waited out
    (as a reply always was); what still fails is retried from the outbox."""
    db.session.rollback()
    handlers.pace()
    try:
        telegram.send_message(token, chat_id, text, reply_markup=markup)
    except telegram.RateLimited as exc:
        wait = timedelta(seconds=exc.retry_after or 1)
        return Outcome.retry(now + wait, f"Telegram asked to wait {wait.seconds} s")
    except telegram.Uncertain:
        # Telegram may have delivered it: sending again could say it twice. At most once.
        return Outcome.done("Telegram's answer was lost; the message was probably delivered")
    except telegram.Unreachable as exc:
        return Outcome.retry(now, f"Telegram did not answer ({exc})")
    except telegram.BotBlocked:
        return Outcome.failed(BLOCKED_ERROR, blocked=True)
    except telegram.TelegramError as exc:
        log.warning("project %s: confirmation to %s not sent: %s", handlers.project_id, chat_id,
                    handlers.describe(exc))
        return Outcome.failed(f"Telegram refused the message: {exc.description}")
    return Outcome.done()


def already_activated(handlers: ProjectHandlers, chat_id: int, user: TelegramUser,
                      raw_code: str) -> None:
    """Answer a repeated activation (or a re-delivered update) with the Join buttons again."""
    session = db.session
    now = utcnow()
    voice = handlers.voice(user)
    access = code_entry.existing_access(session, handlers.project_id, raw_code, user.id, now)
    if access is None or access.subscription is None:
        handlers.reply(chat_id, texts.already_activated(None, None, False, voice.lang))
        return
    label = texts.plan_label(handlers.facts().name, access.plan.name)
    text = texts.already_activated(
        label, access.subscription.ends_at, True, voice.lang, voice.tz
    )
    customer_id = access.customer.id
    # A refusal changes nothing it need not: no fresh link for a chat they are already in.
    resources = [
        r for r in access.resources
        if not memberships.is_inside(session, customer_id, r.id)
    ]
    resource_ids = [r.id for r in resources]
    titles = [r.title for r in resources]
    links = join_links(handlers, customer_id, resource_ids, titles, now)
    hint = texts.join_hint(bool(links.links), links.missing, voice.lang)
    handlers.reply(
        chat_id,
        f"{text}\n\n{hint}" if hint else text,
        keyboards.join_buttons(links.links, voice.lang),
    )


def join_links(handlers: ProjectHandlers, customer_id: int, resource_ids: list[int],
               titles: list[str], now) -> JoinLinks:
    """The customer's Join links; on an unexpected failure all of them follow by job."""
    try:
        return issue_join_links(db.session, handlers.project_id, customer_id, resource_ids, now,
                                token=handlers.token)
    except Exception as exc:  # noqa: BLE001 - the links follow by job
        log.error("project %s: join links for customer %s\n%s", handlers.project_id,
                  customer_id, redacted_traceback(exc, handlers.token))
        db.session.rollback()
        return JoinLinks(missing=titles)


def alert_owner_of_guessing(handlers: ProjectHandlers) -> None:
    owner_chat = handlers.facts().owner_chat
    if not owner_chat:
        db.session.rollback()
        return
    # Through the outbox like every owner notice: kept if the bot dies, merged, retried.
    outbox.write(db.session, handlers.project_id, outbox.OWNER_NOTICE, owner_chat,
                 texts.guessing_alert(SWARM_ACCOUNTS, handlers.owner_lang()), utcnow())
    db.session.commit()
    handlers.owner_notices.wake()


def is_code_entry(handlers: ProjectHandlers, user: TelegramUser, text: str) -> bool:
    """Whether typed text is meant as a code: one was asked for, or it looks like one."""
    return code_entry.awaiting_code(
        db.session, handlers.project_id, user.id
    ) or code_entry.looks_like_generated_code(text)


def on_plan_button(handlers: ProjectHandlers, chat_id: int, user: TelegramUser,
                   parts: list[str]) -> None:
    """A plan's button (what it gives, with an "Access code" button), then "Access code" (the
    bot waits for the typed code)."""
    session = db.session
    lang = handlers.voice(user).lang
    plan_id = parse_id(parts[0])
    if plan_id is None or (len(parts) == 2 and parts[1] != "code"):
        handlers.reply(chat_id, texts.button_gone(lang))
        return
    if len(parts) == 1:
        plan = session.get(Plan, plan_id)
        if (plan is None or plan.project_id != handlers.project_id
                or plan.archived_at is not None):
            handlers.reply(chat_id, texts.button_gone(lang))
            return
        project = handlers.facts()
        period = texts.period(plan.period_unit, plan.period_count, lang)
        handlers.reply(
            chat_id,
            texts.plan_chosen(project.name, plan.name, period, lang),
            keyboards.access_code(plan.id, lang),
        )
        return
    try:
        _, plan = code_entry.begin_typed_code(session, handlers.project_id, user, plan_id)
    except NotFound:
        session.rollback()
        handlers.reply(chat_id, texts.button_gone(lang))
        return
    plan_name = plan.name
    session.commit()
    handlers.reply(chat_id, texts.ask_code(plan_name, lang))
