"""What every conversation of one project's bot shares: the unit of work, replies, its voice."""

import contextlib
import functools
import hashlib
import json
import logging
from dataclasses import dataclass

from flask import Flask, g
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import InterfaceError, OperationalError
from telebot import types

from bot import texts
from bot.owner_notices import OwnerNotices
from bot.redaction import describe, redacted_traceback
from webapp import i18n, telegram
from webapp.domain import owner_texts
from webapp.domain.core_sql import connection_of
from webapp.domain.customers import TelegramUser
from webapp.extensions import db
from webapp.models import Owner, Project, ProjectText
from webapp.queues import get_redis
from webapp.throttle import BotThrottle, bot_id_of

log = logging.getLogger(__name__)


def menu_digest(bot_id, menus) -> bytes:
    """What identifies a set of command menus for one bot (a new token is a new bot)."""
    payload = json.dumps([bot_id, menus], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest().encode()


class ServiceUnavailable(Exception):
    """The database or Redis could not be reached: try the update again later."""


UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)

# The same list for getUpdates and setWebhook (see webapp.telegram).
ALLOWED_UPDATES = telegram.ALLOWED_UPDATES
# A menu that did not change is sent again after a day anyway: someone may have changed it
# through @BotFather meanwhile.
MENU_REFRESH_SECONDS = 24 * 3600
# The longest a reply waits for the shared rate budget before going anyway.
PACE_MAX_WAIT = 5.0


def telegram_user(tg_user: types.User) -> TelegramUser:
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


@dataclass(frozen=True)
class ProjectFacts:
    """What the conversations read of their project and its owner, as plain values."""

    name: str
    bot_username: str | None
    timezone: str
    default_language: str
    contact: str | None
    owner_chat: int | None  # the linked owner's Telegram id
    owner_language: str
    templates: dict[str, dict[str, str]]  # the owner's own texts, by language and key


# The project, its owner and all the owner's texts (a few rows) in one round trip, built once.
_texts = ProjectText.__table__
FACTS = (
    select(
        Project.name, Project.bot_username, Project.timezone, Project.default_language,
        Project.contact, Project.sandbox, Owner.telegram_user_id,
        Owner.language.label("owner_language"), _texts.c.language, _texts.c.key,
        _texts.c.template,
    )
    .join(Owner, Owner.id == Project.owner_id)
    .outerjoin(_texts, _texts.c.project_id == Project.id)
    .where(Project.id == bindparam("project_id"))
)


class ProjectHandlers:
    """One project's bot as its conversations see it (each module of ``bot.handlers`` takes it
    as its first argument)."""

    def __init__(self, app: Flask, project_id: int, token: str):
        self.app = app
        self.project_id = project_id
        self.token = token
        self.owner_notices = OwnerNotices(app, project_id, token, name=f"notices{project_id}")
        self._throttle: BotThrottle | None = None

    def close(self) -> None:
        self.owner_notices.close()

    def register_commands(self) -> None:
        """The command menu: customers' for everyone, the owner's (with /newcode) in their chat.

        Sent only when it differs from the menu last sent for this bot: a poller starts on every
        restart and every lease change, and 1,000 bots times seven setMyCommands calls on each
        would spend minutes of Telegram's rate limits on menus that did not change.
        """
        try:
            with self.app.app_context():
                project = self.project()
                owner_chat = project.owner.telegram_user_id if project else None
                owner_lang = i18n.resolve(project.owner.language) if project else "en"
                default_lang = i18n.resolve(None, project.default_language) if project else "en"
                db.session.remove()
                redis = get_redis()
            # Telegram shows a user the menu of their language, else the one without.
            menus = [({}, texts.customer_commands(default_lang))]
            menus += [({"language_code": i18n.telegram_code(lang)}, texts.customer_commands(lang))
                      for lang in i18n.LANGUAGES]
            if owner_chat:
                menus.append(({"chat_id": owner_chat}, texts.owner_commands(owner_lang)))
            key = f"admit:bot-menus:{self.project_id}"
            digest = menu_digest(bot_id_of(self.token), menus)
            if redis.get(key) == digest:
                return
            # Short tries: this must not hold up polling when Telegram is slow to answer.
            with telegram.while_someone_waits():
                for scope, commands in menus:
                    telegram.set_my_commands(self.token, commands, **scope)
            redis.set(key, digest, ex=MENU_REFRESH_SECONDS)
        except UNAVAILABLE as exc:
            log.info("project %s: commands not registered: %s", self.project_id,
                     exc.__class__.__name__)
        except telegram.TelegramError as exc:
            log.info("project %s: commands not registered: %s", self.project_id,
                     self.describe(exc))

    # ---- the unit of work -------------------------------------------------------------------

    def unit(self, handler):
        """Run ``handler(self, update)`` as one unit of work.

        The database or Redis being unreachable raises ``ServiceUnavailable``: the poller then
        keeps the update for a later try instead of confirming it. Any other failure is logged
        (with an apology to the person, when there is one) and the update is done.
        """

        @functools.wraps(handler)
        def run(update):
            try:
                with self.app.app_context():
                    g.project_facts = None  # read once per update, on first use
                    try:
                        handler(self, update)
                    finally:
                        db.session.remove()
            except UNAVAILABLE as exc:
                # The driver's first line tells an outage from a deadlock or a lock timeout
                # (psycopg reports those as OperationalError too); it holds no password.
                cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
                log.warning("project %s: %s: %s unavailable: %s", self.project_id,
                            handler.__name__, exc.__class__.__name__,
                            cause[0][:200] if cause else "")
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

    # ---- talking to Telegram ----------------------------------------------------------------

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

    # ---- the project and its voice ----------------------------------------------------------

    def project(self) -> Project:
        return db.session.get(Project, self.project_id)

    def facts(self) -> ProjectFacts:
        """The project and its owner, read once per update (an update takes milliseconds: what
        the owner changes meanwhile applies from the next one)."""
        if g.get("project_facts") is not None:
            return g.project_facts
        rows = connection_of(db.session).execute(FACTS, {"project_id": self.project_id}).all()
        if not rows:
            raise LookupError(f"project {self.project_id} is gone")
        row = rows[0]
        if row.sandbox:
            # What loading the Project row does (webapp.sandbox): its bot lives in the sandbox.
            telegram.route_to_sandbox(self.token)
        templates: dict[str, dict[str, str]] = {}
        for text in rows:
            if text.key is not None:
                templates.setdefault(text.language, {})[text.key] = text.template
        facts = ProjectFacts(
            row.name, row.bot_username, row.timezone, row.default_language, row.contact,
            row.telegram_user_id, row.owner_language, templates,
        )
        if "project_facts" in g:  # inside an update's unit of work
            g.project_facts = facts
        return facts

    def voice(self, user: TelegramUser) -> Voice:
        """Telegram's language for this user when the bot speaks it, else the project's default."""
        facts = self.facts()
        lang = i18n.resolve(user.language_code, facts.default_language)
        custom = facts.templates.get(lang, {})
        return Voice(lang, facts.timezone, custom, owner_texts.contact(custom, facts))

    def owner_lang(self) -> str:
        return i18n.resolve(self.facts().owner_language)
