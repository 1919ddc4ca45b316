"""The bot's handlers: parse the update, make one domain call, commit, then talk to Telegram.

Every update is one unit of work: its own app context and session. The database is committed
before any Bot API call, so a failing or slow Telegram never loses an activation, and a crash after
the commit at worst re-delivers the update, which the domain answers idempotently. Nothing raises
out of a handler: errors are logged and the update is done.
"""

import contextlib
import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from telebot import TeleBot, types, util

from bot import keyboards, owner_codes, texts
from bot.join_links import JoinLinks, issue_join_links
from bot.outbox import Target, deliver_customer_message, settle_customer_message
from bot.owner_notices import OwnerNotices
from bot.redaction import describe, redacted_traceback
from webapp import i18n, jobs, telegram
from webapp.domain import (
    code_entry,
    memberships,
    newcode_wizard,
    outbox,
    owner_link,
    owner_texts,
    resources,
)
from webapp.domain.attempts import SWARM_ACCOUNTS, attempts_left
from webapp.domain.csv_export import codes_csv, csv_filename
from webapp.domain.customers import TelegramUser
from webapp.domain.errors import (
    AlreadyActivated,
    CodeExpired,
    CodePaused,
    CodeUsedUp,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    UnknownCode,
)
from webapp.domain.ids import parse_id
from webapp.domain.lifecycle import BLOCKED_ERROR, Outcome
from webapp.extensions import db
from webapp.models import Plan, Project, utcnow
from webapp.queues import get_redis
from webapp.throttle import BotThrottle, bot_id_of

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """The database or Redis could not be reached: try the update again later."""


UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)

# The same list for getUpdates and setWebhook (see webapp.telegram).
ALLOWED_UPDATES = telegram.ALLOWED_UPDATES
MEMBER_STATUSES = ("member", "administrator", "creator")
# The longest a reply waits for the shared rate budget before going anyway.
PACE_MAX_WAIT = 5.0
ALL_CONTENT_TYPES = list(dict.fromkeys(util.content_type_media + util.content_type_service))


def register_handlers(bot: TeleBot, project_id: int, app: Flask | None = None):
    """Attach the membership bot's handlers for one project to ``bot``; the handlers object
    (``close()`` it when the bot stops, to send the owner notices still queued)."""
    handlers = ProjectHandlers(app or current_app._get_current_object(), project_id, bot.token)
    bot.message_handler(func=lambda m: True, content_types=ALL_CONTENT_TYPES)(
        handlers.unit(handlers.on_message)
    )
    bot.edited_message_handler(func=lambda m: True, content_types=ALL_CONTENT_TYPES)(
        lambda message: None  # edits change nothing: a code is read when it is sent
    )
    bot.callback_query_handler(func=lambda c: True)(handlers.unit(handlers.on_callback))
    bot.my_chat_member_handler()(handlers.unit(handlers.on_my_chat_member))
    bot.chat_member_handler()(handlers.unit(handlers.on_chat_member))
    bot.chat_join_request_handler()(handlers.unit(handlers.on_join_request))
    return handlers


def _user(tg_user: types.User) -> TelegramUser:
    return TelegramUser(
        id=tg_user.id,
        first_name=tg_user.first_name,
        last_name=tg_user.last_name,
        username=tg_user.username,
        language_code=getattr(tg_user, "language_code", None),
    )


@dataclass(frozen=True)
class Voice:
    """How the bot speaks to one customer: language, time zone, the owner's own texts."""

    lang: str
    tz: str
    custom: dict
    contact: str | None


def _is_in(member: types.ChatMember | None) -> bool:
    if member is None:
        return False
    if member.status == "restricted":
        return bool(getattr(member, "is_member", False))
    return member.status in MEMBER_STATUSES


class ProjectHandlers:
    def __init__(self, app: Flask, project_id: int, token: str):
        self.app = app
        self.project_id = project_id
        self.token = token
        self.owner_notices = OwnerNotices(app, project_id, token, name=f"notices{project_id}")
        self._throttle: BotThrottle | None = None

    def close(self) -> None:
        self.owner_notices.close()

    def register_commands(self) -> None:
        """The command menu: customers' for everyone, the owner's (with /newcode) in their chat."""
        try:
            with self.app.app_context():
                project = self.project()
                owner_chat = project.owner.telegram_user_id if project else None
                db.session.remove()
            # Short tries: this must not hold up polling when Telegram is slow to answer.
            with telegram.while_someone_waits():
                telegram.set_my_commands(self.token, texts.CUSTOMER_COMMANDS)
                if owner_chat:
                    telegram.set_my_commands(
                        self.token, texts.OWNER_COMMANDS, chat_id=owner_chat
                    )
        except UNAVAILABLE as exc:
            log.info("project %s: commands not registered: %s", self.project_id,
                     exc.__class__.__name__)
        except telegram.TelegramError as exc:
            log.info("project %s: commands not registered: %s", self.project_id,
                     self.describe(exc))

    # ---- plumbing ---------------------------------------------------------------------------

    def unit(self, handler):
        """Run ``handler`` as one unit of work.

        The database or Redis being unreachable raises ``ServiceUnavailable``: the poller then
        keeps the update for a later try instead of confirming it. Any other failure is logged
        (with an apology to the person, when there is one) and the update is done.
        """

        @functools.wraps(handler)
        def run(update):
            try:
                with self.app.app_context():
                    try:
                        handler(update)
                    finally:
                        db.session.remove()
            except UNAVAILABLE as exc:
                log.warning("project %s: %s: %s unavailable", self.project_id,
                            handler.__name__, exc.__class__.__name__)
                raise ServiceUnavailable(str(exc)) from exc
            except Exception as exc:  # noqa: BLE001 - logged, with an apology
                log.error("project %s: %s failed\n%s", self.project_id, handler.__name__,
                          redacted_traceback(exc, self.token))
                self.apologise(update)

        return run

    def apologise(self, update) -> None:
        chat = getattr(update, "chat", None)
        if chat is None and getattr(update, "message", None) is not None:
            chat = update.message.chat  # a callback query
        if chat is None or chat.type != "private":
            return
        # No database here (it may be what failed): Telegram's language or English.
        sender = getattr(update, "from_user", None)
        lang = i18n.resolve(getattr(sender, "language_code", None))
        with contextlib.suppress(telegram.TelegramError):
            telegram.send_message(self.token, chat.id, texts.something_went_wrong(lang))

    def describe(self, exc: BaseException) -> str:
        """A failure for the log, without the bot token."""
        return describe(exc, self.token)

    def pace(self) -> None:
        """Wait for a place in the bot's message budget, shared with the worker through Redis.

        Only the per-bot limit: a person's own private chat takes short bursts. If the budget
        stays full (or Redis is away) the message goes anyway; Telegram's 429 is still handled.
        """
        try:
            if self._throttle is None:
                self._throttle = BotThrottle(get_redis())
            self._throttle.wait(bot_id_of(self.token), None, max_wait=PACE_MAX_WAIT)
        except Exception as exc:  # noqa: BLE001 - pacing is best effort
            log.info("project %s: sending without pacing (%s)", self.project_id, exc)

    def reply(self, chat_id: int, text: str, markup=None) -> None:
        """Send a message, holding no transaction while Telegram answers.

        Callers commit their work first; what is left open here can only be reads.
        """
        db.session.rollback()
        self.pace()
        try:
            telegram.send_message(self.token, chat_id, text, reply_markup=markup)
        except telegram.TelegramError as exc:
            log.warning("project %s: message to %s not sent: %s", self.project_id, chat_id,
                        self.describe(exc))

    def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        db.session.rollback()
        bot = telegram.bot_for(self.token)
        try:
            telegram.call(lambda: bot.answer_callback_query(callback_id, text=text))
        except telegram.TelegramError as exc:
            log.info("project %s: callback not answered: %s", self.project_id, self.describe(exc))

    def project(self) -> Project:
        return db.session.get(Project, self.project_id)

    def voice(self, user: TelegramUser) -> Voice:
        """Telegram's language for this user when the bot speaks it, else the project's default."""
        project = self.project()
        lang = i18n.resolve(user.language_code, project.default_language)
        custom = owner_texts.project_texts(db.session, self.project_id, lang)
        return Voice(lang, project.timezone, custom, owner_texts.contact(custom, project))

    def owner_lang(self) -> str:
        return i18n.resolve(self.project().owner.language)

    # ---- messages ---------------------------------------------------------------------------

    def on_message(self, message: types.Message) -> None:
        if message.migrate_to_chat_id or message.migrate_from_chat_id:
            self.on_chat_migrated(message)
            return
        if message.chat.type != "private" or message.from_user is None:
            return  # the bot talks to people only in private chats
        if message.from_user.is_bot:
            return
        user = _user(message.from_user)
        chat_id = message.chat.id
        if message.content_type != "text" or not message.text:
            self.reply(chat_id, texts.text_only(self.voice(user).lang))
            return
        text = message.text.strip()
        if not text.startswith("/"):
            self.on_text(chat_id, user, text)
            return
        command, *rest = text.split(None, 1)
        command = command[1:].split("@", 1)[0].lower()
        payload = rest[0].strip() if rest else ""
        if command == "start":
            self.on_start(chat_id, user, payload)
        elif command == "newcode":
            self.on_newcode(chat_id, user)
        elif command == "code":
            owner_codes.on_code_command(self, chat_id, user, payload)
        elif command == "cancel":
            self.on_cancel(chat_id, user)
        elif command == "help":
            is_owner = newcode_wizard.is_linked_owner(db.session, self.project_id, user.id)
            lang = self.owner_lang() if is_owner else self.voice(user).lang
            self.reply(chat_id, texts.help_text(is_owner, lang))
        else:
            self.reply(chat_id, texts.unknown_command(self.voice(user).lang))

    def on_start(self, chat_id: int, user: TelegramUser, payload: str) -> None:
        if not payload:
            self.welcome(chat_id, user)
        elif payload.startswith(owner_link.TOKEN_PREFIX):
            self.link_owner(chat_id, user, payload)
        else:
            self.activate(chat_id, user, payload)

    def welcome(self, chat_id: int, user: TelegramUser) -> None:
        session = db.session
        code_entry.clear_pending_step(session, self.project_id, user.id)
        newcode_wizard.cancel(session, self.project_id, user.id)
        plans = [(p.id, p.name) for p in code_entry.offered_plans(session, self.project_id)]
        voice = self.voice(user)
        text = texts.welcome(
            self.project().name, bool(plans), voice.lang, voice.custom.get("welcome"),
            user.first_name,
        )
        session.commit()
        self.reply(chat_id, text, keyboards.plans(plans) if plans else None)

    def link_owner(self, chat_id: int, user: TelegramUser, token: str) -> None:
        session = db.session
        try:
            owner = owner_link.link_telegram_account(
                session, token, user.id, user.username, utcnow(), via_project_id=self.project_id
            )
        except NotFound:
            session.rollback()
            self.reply(chat_id, texts.owner_link_invalid(self.voice(user).lang))
            return
        email, lang = owner.email, i18n.resolve(owner.language)
        session.commit()
        self.reply(chat_id, texts.owner_linked(email, lang))
        with contextlib.suppress(telegram.TelegramError):
            telegram.set_my_commands(self.token, texts.OWNER_COMMANDS, chat_id=chat_id)

    def on_text(self, chat_id: int, user: TelegramUser, text: str) -> None:
        session = db.session
        try:
            step = newcode_wizard.answer_text(session, self.project_id, user.id, text, utcnow())
        except InvalidInput as exc:
            session.rollback()
            self.reply(chat_id, texts.newcode_invalid(exc, self.owner_lang()))
            return
        except (newcode_wizard.NotAnOwner, newcode_wizard.WizardGone):
            newcode_wizard.cancel(session, self.project_id, user.id)
            session.commit()
            self.reply(chat_id, texts.newcode_gone(self.voice(user).lang))
            return
        if step is not None:
            self.wizard_step(chat_id, step)
            return
        if code_entry.awaiting_code(
            session, self.project_id, user.id
        ) or code_entry.looks_like_generated_code(text):
            self.activate(chat_id, user, text)
            return
        self.reply(chat_id, texts.nothing_pending(self.voice(user).lang))

    def on_cancel(self, chat_id: int, user: TelegramUser) -> None:
        session = db.session
        had_wizard = newcode_wizard.cancel(session, self.project_id, user.id)
        had_step = code_entry.clear_pending_step(session, self.project_id, user.id)
        session.commit()
        done = had_wizard or had_step
        lang = self.voice(user).lang
        self.reply(chat_id, texts.cancelled(lang) if done else texts.nothing_to_cancel(lang))

    # ---- activation -------------------------------------------------------------------------

    def alert_owner_of_guessing(self) -> None:
        owner_chat = self.project().owner.telegram_user_id
        if not owner_chat:
            db.session.rollback()
            return
        # Through the outbox like every owner notice: kept if the bot dies, merged, retried.
        outbox.write(db.session, self.project_id, outbox.OWNER_NOTICE, owner_chat,
                     texts.guessing_alert(SWARM_ACCOUNTS), utcnow())
        db.session.commit()
        self.owner_notices.wake()

    def activate(self, chat_id: int, user: TelegramUser, raw_code: str) -> None:
        session = db.session
        now = utcnow()
        voice = self.voice(user)
        lang = voice.lang
        try:
            result = code_entry.enter_code(
                session, get_redis(), self.project_id, raw_code, user, now
            )
        # A refusal changes nothing but the funnel's record of it, which is kept.
        except TooManyAttempts as exc:
            session.commit()
            self.reply(chat_id, texts.too_many_attempts(exc.retry_after_seconds, lang))
            return
        except UnknownCode as exc:
            session.commit()
            limit = getattr(exc, "attempts_allowed", attempts_left(0))
            left = attempts_left(getattr(exc, "wrong_attempts", 0), limit)
            self.reply(chat_id, texts.unknown_code_last_try(left, lang, voice.contact))
            if getattr(exc, "alert_owner", False):
                self.alert_owner_of_guessing()
            return
        except CodeExpired:
            session.commit()
            self.reply(chat_id, texts.code_expired(lang, voice.contact))
            return
        except CodeUsedUp:
            session.commit()
            self.reply(chat_id, texts.code_used_up(lang, voice.contact))
            return
        except CodePaused:
            session.commit()
            self.reply(chat_id, texts.code_paused(lang, voice.contact))
            return
        except AlreadyActivated:
            session.commit()
            self.already_activated(chat_id, user, raw_code)
            return
        # The confirmation and the owner's notice are promised in the activation's transaction
        # (the outbox), claimed by this handler, which sends the confirmation right away: if it
        # cannot (a crash, Telegram away), the sweep sends it later. Committed before any
        # Telegram call: whatever happens next, the activation stands.
        project, customer, plan, code = self.project(), result.customer, result.plan, result.code
        owner_chat = project.owner.telegram_user_id
        owner_lang = i18n.resolve(project.owner.language)
        ends_at = result.subscription.ends_at
        text = texts.activated(
            project.name, plan.name, ends_at, result.extended, lang, voice.tz,
            voice.custom.get("confirmation"), user.first_name,
        )
        who = texts.person(user.first_name, user.last_name, user.username, user.id)
        notice_text = texts.owner_notice(
            who, code.code, project.name, plan.name, code.activations_left, code.max_activations,
            owner_lang,
        )
        ids = {"customer_id": customer.id, "subscription_id": result.subscription.id,
               "plan_id": plan.id}
        confirmation = outbox.write(session, self.project_id, outbox.CONFIRMATION, chat_id, text,
                                    now, claimed=True, **ids)
        if owner_chat:
            outbox.write(session, self.project_id, outbox.OWNER_NOTICE, owner_chat, notice_text,
                         now, **ids)
        target = Target(project.bot_token, customer.id, [r.id for r in plan.resources],
                        [r.title for r in plan.resources], lang)
        session.flush()
        claimed = outbox.claimed_values(confirmation, now)
        session.commit()
        delivery = deliver_customer_message(session, claimed, now, self.send_now, target)
        follow_up = settle_customer_message(session, claimed, delivery, utcnow())
        if owner_chat and delivery.missing:
            outbox.write(session, self.project_id, outbox.OWNER_NOTICE, owner_chat,
                         texts.owner_notice_links_pending(delivery.missing, owner_lang), utcnow(),
                         **ids)
        session.commit()
        if owner_chat:
            self.owner_notices.wake()  # after the customer's answer, which goes first
        if follow_up is not None:
            jobs.enqueue_outbox_messages([follow_up])

    def send_now(self, token: str, chat_id: int, text: str, markup, now) -> Outcome:
        """The customer's immediate answer: paced best effort, Telegram's short waits waited out
        (as a reply always was); what still fails is retried from the outbox."""
        db.session.rollback()
        self.pace()
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
            log.warning("project %s: confirmation to %s not sent: %s", self.project_id, chat_id,
                        self.describe(exc))
            return Outcome.failed(f"Telegram refused the message: {exc.description}")
        return Outcome.done()

    def already_activated(self, chat_id: int, user: TelegramUser, raw_code: str) -> None:
        """Answer a repeated activation (or a re-delivered update) with the Join buttons again."""
        session = db.session
        now = utcnow()
        voice = self.voice(user)
        access = code_entry.existing_access(session, self.project_id, raw_code, user.id, now)
        if access is None or access.subscription is None:
            self.reply(chat_id, texts.already_activated(None, None, False, voice.lang))
            return
        label = texts.plan_label(self.project().name, access.plan.name)
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
        links = self.join_links(customer_id, resource_ids, titles, now)
        hint = texts.join_hint(bool(links.links), links.missing, voice.lang)
        self.reply(
            chat_id,
            f"{text}\n\n{hint}" if hint else text,
            keyboards.join_buttons(links.links, voice.lang),
        )

    def join_links(self, customer_id: int, resource_ids: list[int], titles: list[str], now):
        """The customer's Join links; on an unexpected failure all of them follow by job."""
        try:
            return issue_join_links(db.session, self.project_id, customer_id, resource_ids, now)
        except Exception as exc:  # noqa: BLE001 - the links follow by job
            log.error("project %s: join links for customer %s\n%s", self.project_id, customer_id,
                      redacted_traceback(exc, self.token))
            db.session.rollback()
            return JoinLinks(missing=titles)

    # ---- callbacks --------------------------------------------------------------------------

    def on_callback(self, callback: types.CallbackQuery) -> None:
        message = callback.message
        if message is None or message.chat.type != "private":
            self.answer_callback(callback.id)
            return
        user = _user(callback.from_user)
        chat_id = message.chat.id
        parts = (callback.data or "").split(":")
        if parts[0] == keyboards.PLAN_PREFIX and len(parts) in (2, 3):
            self.answer_callback(callback.id)
            self.on_plan_button(chat_id, user, parts[1:])
        elif parts[0] == keyboards.NEWCODE_PREFIX and len(parts) == 4:
            self.answer_callback(callback.id)
            self.on_newcode_button(chat_id, user, *parts[1:])
        elif parts[0] == owner_codes.PREFIX:
            owner_codes.on_callback(self, callback, chat_id, user, parts)
        else:
            self.answer_callback(callback.id, texts.button_gone(self.voice(user).lang))

    def on_plan_button(self, chat_id: int, user: TelegramUser, parts: list[str]) -> None:
        session = db.session
        lang = self.voice(user).lang
        plan_id = parse_id(parts[0])
        if plan_id is None or (len(parts) == 2 and parts[1] != "code"):
            self.reply(chat_id, texts.button_gone(lang))
            return
        if len(parts) == 1:
            plan = session.get(Plan, plan_id)
            if plan is None or plan.project_id != self.project_id or plan.archived_at is not None:
                self.reply(chat_id, texts.button_gone(lang))
                return
            project = self.project()
            period = texts.period(plan.period_unit, plan.period_count, lang)
            self.reply(
                chat_id,
                texts.plan_chosen(project.name, plan.name, period, lang),
                keyboards.access_code(plan.id, lang),
            )
            return
        try:
            _, plan = code_entry.begin_typed_code(session, self.project_id, user, plan_id)
        except NotFound:
            session.rollback()
            self.reply(chat_id, texts.button_gone(lang))
            return
        plan_name = plan.name
        session.commit()
        self.reply(chat_id, texts.ask_code(plan_name, lang))

    # ---- /newcode ---------------------------------------------------------------------------

    def on_newcode(self, chat_id: int, user: TelegramUser) -> None:
        step = self.wizard_answer(
            chat_id,
            lambda session: newcode_wizard.start(session, self.project_id, user.id, utcnow()),
        )
        if step is not None:
            code_entry.clear_pending_step(db.session, self.project_id, user.id)
            self.wizard_step(chat_id, step)

    def on_newcode_button(
        self, chat_id: int, user: TelegramUser, nonce: str, step_name: str, value: str
    ) -> None:
        step = self.wizard_answer(
            chat_id,
            lambda session: newcode_wizard.choose(
                session, self.project_id, user.id, nonce, step_name, value, utcnow()
            ),
        )
        if step is not None:
            self.wizard_step(chat_id, step)

    def wizard_answer(self, chat_id: int, ask):
        """The wizard's next step from ``ask(session)``, or ``None`` after replying to a refusal."""
        session = db.session
        # Refusals to a stranger speak the project's default; the owner reads their own language.
        lang = self.owner_lang()
        try:
            return ask(session)
        except newcode_wizard.NotAnOwner:
            session.rollback()
            self.reply(chat_id, texts.not_owner(i18n.resolve(self.project().default_language)))
        except newcode_wizard.WizardGone:
            session.rollback()
            self.reply(chat_id, texts.newcode_gone(lang))
        except newcode_wizard.NoPlans as exc:
            session.commit()
            self.reply(chat_id, texts.newcode_no_plans(str(exc), lang))
        except InvalidInput as exc:
            session.rollback()
            self.reply(chat_id, texts.newcode_invalid(exc, lang))
        return None

    def wizard_step(self, chat_id: int, step) -> None:
        """Commit the wizard's progress (or the codes made), then show the next step."""
        session = db.session
        lang = self.owner_lang()
        if isinstance(step, newcode_wizard.WizardPrompt):
            session.commit()
            self.reply(chat_id, texts.newcode_prompt(step, lang), keyboards.newcode(step, lang))
            return
        project, plan, codes = step.project, step.plan, step.codes
        bot_username, project_name, plan_name = project.bot_username, project.name, plan.name
        if len(codes) == 1 and step.batch is None:
            code = codes[0]
            text = texts.newcode_single(
                bot_username, code.code, code.expires_at, code.max_activations, step.timezone,
                lang,
            )
            session.commit()
            self.reply(chat_id, text)
            return
        data = codes_csv(codes, bot_username, plan_name)
        filename = csv_filename(project_name, plan_name, len(codes))
        count = len(codes)
        session.commit()
        try:
            telegram.send_document(
                self.token,
                chat_id,
                data,
                filename,
                caption=texts.newcode_bulk_caption(count, plan_name, lang),
            )
        except telegram.TelegramError as exc:
            log.warning("project %s: CSV not sent: %s", self.project_id, self.describe(exc))
            self.reply(chat_id, texts.newcode_bulk_not_sent(count, lang))

    # ---- chats ------------------------------------------------------------------------------

    def on_my_chat_member(self, update: types.ChatMemberUpdated) -> None:
        session = db.session
        now = utcnow()
        chat = update.chat
        new = update.new_chat_member
        if chat.type == "private":
            blocked = new.status == "kicked"
            resources.set_bot_blocked(session, self.project_id, chat.id, blocked, now)
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
        result = resources.apply_bot_status(session, self.project_id, change, now)
        if result.kind == "none":
            session.rollback()
            return
        if result.resource is not None:
            title, chat_type = result.resource.title, result.resource.chat_type
        else:
            title, chat_type = chat.title or str(chat.id), chat.type
        owner_chat = self.project().owner.telegram_user_id
        lang = self.owner_lang()
        session.commit()
        if not owner_chat:
            return
        if result.kind == "pending":
            notice = texts.resource_pending(chat_type, chat.id)
        elif result.kind == "added":
            notice = texts.resource_added(title, chat_type, result.missing_rights, lang)
        elif result.kind == "updated":
            notice = texts.resource_updated(title, result.missing_rights, lang)
        elif result.kind == "not_admin":
            notice = texts.resource_not_admin(title, chat_type, lang)
        else:
            notice = texts.resource_lost(title, lang)
        self.reply(owner_chat, notice)

    def on_chat_migrated(self, message: types.Message) -> None:
        """A basic group became a supergroup: its resource follows to the new chat id."""
        if message.migrate_to_chat_id:
            old_id, new_id = message.chat.id, message.migrate_to_chat_id
        else:
            old_id, new_id = message.migrate_from_chat_id, message.chat.id
        session = db.session
        resource = resources.migrate_chat(session, self.project_id, old_id, new_id, utcnow())
        session.commit()
        if resource is not None:
            log.info("project %s: chat %s is now supergroup %s", self.project_id, old_id, new_id)

    def on_chat_member(self, update: types.ChatMemberUpdated) -> None:
        session = db.session
        now = utcnow()
        user = update.new_chat_member.user
        if user.is_bot:
            return
        was_in, is_in = _is_in(update.old_chat_member), _is_in(update.new_chat_member)
        if is_in and not was_in:
            link = update.invite_link.invite_link if update.invite_link else None
            event = memberships.record_join(
                session, self.project_id, update.chat.id, user.id, link, now,
                link_made_by_bot=self.made_by_bot(update.invite_link),
            )
            title = event.resource.title if event.resource else ""
            lang = self.voice(_user(user)).lang
            session.commit()
            if event.spent_link:
                # member_limit=1 counts members present: once they leave it would work again.
                self.revoke_link(update.chat.id, event.spent_link)
            if event.removal_id is not None:
                self.carry_out_removal(
                    event.removal_id, user.id, title, event.unwelcome, event.can_message
                )
            elif event.unwelcome:
                self.remove_unwelcome(
                    update.chat.id, user.id, title, event.unwelcome, event.can_message, lang
                )
        elif was_in and not is_in:
            memberships.record_leave(session, self.project_id, update.chat.id, user.id, now)
            session.commit()

    def made_by_bot(self, invite_link) -> bool:
        """Whether an invite link of an update is one this bot made (an Admit link)."""
        creator = getattr(invite_link, "creator", None)
        return creator is not None and str(creator.id) == bot_id_of(self.token)

    def remove_unwelcome(
        self, chat_id: int, user_id: int, title: str, reason: str, can_message: bool,
        lang: str = "en",
    ) -> None:
        """Someone came in through an Admit link without access of their own: out again.

        They are told why only if they ever started the bot: Telegram lets no bot write first.
        """
        log.info("project %s: removing %s from %s (%s)", self.project_id, user_id, chat_id,
                 reason)
        try:
            telegram.remove_member(self.token, chat_id, user_id)
        except telegram.BanNotLifted as exc:
            # Out, but banned: a later paid Join link would fail for them. A job keeps trying.
            log.warning("project %s: %s removed but still banned: %s", self.project_id, user_id,
                        self.describe(exc))
            self.queue_lift_ban(chat_id, user_id)
        except telegram.TelegramError as exc:
            log.warning("project %s: could not remove %s: %s", self.project_id, user_id,
                        self.describe(exc))
            return
        if not can_message:
            return
        if reason == "someone_elses_link":
            self.reply(user_id, texts.removed_someone_elses_link(title, lang))
        else:
            self.reply(user_id, texts.removed_no_access(title, lang))

    def carry_out_removal(
        self, removal_id: int, user_id: int, title: str, reason: str, can_message: bool
    ) -> None:
        """An unwelcome customer's removal, written with their join: done here at once, or by the
        lifecycle jobs (which re-check their access first) if Telegram does not let it be now."""
        if jobs.carry_out_removal_here(removal_id) != "done" or not can_message:
            return
        if reason == "someone_elses_link":
            self.reply(user_id, texts.removed_someone_elses_link(title))
        else:
            self.reply(user_id, texts.removed_no_access(title))

    def queue_lift_ban(self, chat_id: int, user_id: int) -> None:
        from webapp.jobs import enqueue_lift_ban

        try:
            enqueue_lift_ban(self.project_id, chat_id, user_id)
        except Exception:
            log.exception("project %s: could not queue lifting a ban", self.project_id)

    def revoke_link(self, chat_id: int, link: str) -> None:
        try:
            telegram.revoke_invite_link(self.token, chat_id, link)
        except telegram.TelegramError as exc:
            log.info("project %s: could not revoke a used link: %s", self.project_id,
                     self.describe(exc))

    def on_join_request(self, request: types.ChatJoinRequest) -> None:
        session = db.session
        user_id = request.from_user.id
        link = request.invite_link.invite_link if request.invite_link else None
        verdict = memberships.judge_join_request(
            session, self.project_id, request.chat.id, user_id, link,
            self.made_by_bot(request.invite_link), utcnow(),
        )
        lang = self.voice(_user(request.from_user)).lang
        session.rollback()
        if verdict.action == "leave":
            return  # not a resource, or the owner's own request to decide
        try:
            if verdict.action == "approve":
                telegram.approve_join_request(self.token, request.chat.id, user_id)
                return
            # Telegram lets the bot write to a requester only until the request is decided:
            # the answer goes first, the decline after.
            chat_id = getattr(request, "user_chat_id", None) or user_id
            self.reply(
                chat_id, texts.join_request_declined(verdict.title or request.chat.title, lang)
            )
            telegram.decline_join_request(self.token, request.chat.id, user_id)
        except telegram.TelegramError as exc:
            log.warning("project %s: join request of %s: %s", self.project_id, user_id,
                        self.describe(exc))
