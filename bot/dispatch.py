"""One update path for every transport: polling and webhooks both hand updates to a ``Dispatcher``.

The handlers (``bot.handlers``) never learn how an update arrived. What the transports share is
here: an update is handled at most once across every process of the deployment, however often
Telegram delivers it (a webhook retried after a slow answer, a poller taking over another's bot
and getting the unconfirmed batch again), and at least once: a claim is only made permanent after
the handlers are done, so a process that dies mid-update leaves the update to the next delivery.
And here each update is routed to the conversation it belongs to (``register_handlers``).
"""

import contextlib
import logging

import telebot
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from telebot import types, util

from bot import keyboards, owner_codes
from bot.handlers import (
    ProjectHandlers,
    ServiceUnavailable,
    activation,
    bot_chats,
    help,
    members,
    newcode,
    owner_link,
    telegram_user,
)
from bot.redaction import redacted_traceback
from webapp.domain.customers import TelegramUser
from webapp.queues import get_redis
from webapp.throttle import bot_id_of

log = logging.getLogger(__name__)

# Telegram keeps an update for 24 hours at most: a delivery later than that cannot happen.
DONE_TTL_SECONDS = 24 * 3600 + 600
# How long another process's unfinished claim holds off a re-delivery; a claimer that died frees
# the update after this. Longer than any one update takes (replies wait at most a few seconds).
CLAIM_TTL_SECONDS = 120
_DONE = b"done"


class UpdateInProgress(ServiceUnavailable):
    """Another process is handling this update right now: deliver it again later."""


# A claim is "claimed:<process>"; a claim whose process has stopped announcing itself (see
# bot.fleet) is taken over at once instead of after its TTL. Claims without a process (webhook
# workers) only run out.
_CLAIM = """
local value = redis.call('get', KEYS[1])
if value == ARGV[3] then return 'done' end
if value then
  local owner = string.sub(value, 9)
  if owner == '' or redis.call('exists', ARGV[4] .. owner) == 1 then return 'busy' end
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 'new'
"""
ALIVE_PREFIX = "admit:bot-process:"


class UpdateLedger:
    """Which updates were handled, per bot, in Redis: claims with a TTL, then "done" for a day.

    A claim says "being handled"; ``done`` turns it into "handled"; ``release`` drops it when
    the handling must be tried again. Keys hold no token, only the bot's numeric id.
    """

    def __init__(self, redis: Redis):
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)

    @staticmethod
    def key(bot_id: str, update_id: int) -> str:
        return f"admit:update:{bot_id}:{update_id}"

    def claim(self, bot_id: str, update_id: int, claimant: str = "") -> str:
        """``"new"`` (ours to handle), ``"done"`` (handled before) or ``"busy"`` (elsewhere)."""
        state = self._claim(
            keys=[self.key(bot_id, update_id)],
            args=[f"claimed:{claimant}", CLAIM_TTL_SECONDS, _DONE, ALIVE_PREFIX],
        )
        return state.decode() if isinstance(state, bytes) else state

    def done(self, bot_id: str, update_id: int) -> None:
        self.redis.set(self.key(bot_id, update_id), _DONE, ex=DONE_TTL_SECONDS)

    def release(self, bot_id: str, update_id: int) -> None:
        self.redis.delete(self.key(bot_id, update_id))


class Dispatcher:
    """One project's bot: its handlers, fed one update at a time by whichever transport."""

    def __init__(self, app: Flask, project_id: int, token: str):
        self.app = app
        self.project_id = project_id
        self.token = token
        self.bot_id = bot_id_of(token)
        self.bot = telebot.TeleBot(token, threaded=False, parse_mode=None)
        self.handlers = register_handlers(self.bot, project_id, app)
        self._ledger: UpdateLedger | None = None
        # The process id a fleet announces (bot.fleet): its claims die with it.
        self.claimant = ""

    def ledger(self) -> UpdateLedger:
        if self._ledger is None:
            with self.app.app_context():
                self._ledger = UpdateLedger(get_redis())
        return self._ledger

    def dispatch(self, update: telebot.types.Update) -> bool:
        """Handle ``update`` unless it was handled already; False for a duplicate.

        Raises ``ServiceUnavailable`` (``UpdateInProgress`` included) when the update must be
        delivered again later: the database or Redis is away, or another process holds it.
        """
        ledger = self.ledger()
        try:
            state = ledger.claim(self.bot_id, update.update_id, self.claimant)
        except RedisError as exc:
            raise ServiceUnavailable(f"update ledger: {exc.__class__.__name__}") from exc
        if state == "done":
            return False
        if state == "busy":
            raise UpdateInProgress(f"update {update.update_id} is being handled elsewhere")
        try:
            self.bot.process_new_updates([update])
        except ServiceUnavailable:
            self._forget(update.update_id)
            raise
        except Exception as exc:  # noqa: BLE001 - logged; the update is done
            log.error("project %s: update %s failed\n%s", self.project_id, update.update_id,
                      redacted_traceback(exc, self.token))
        try:
            ledger.done(self.bot_id, update.update_id)
        except RedisError:
            # Handled, but not recorded: the claim's TTL still holds off re-deliveries a while.
            log.warning("project %s: update %s handled but not recorded", self.project_id,
                        update.update_id)
        return True

    def dispatch_json(self, payload: dict) -> bool:
        return self.dispatch(telebot.types.Update.de_json(payload))

    def _forget(self, update_id: int) -> None:
        with contextlib.suppress(RedisError):  # else the claim runs out by itself
            self.ledger().release(self.bot_id, update_id)

    def close(self) -> None:
        self.handlers.close()


# ---- routing: which conversation an update belongs to -----------------------------------------

ALL_CONTENT_TYPES = list(dict.fromkeys(util.content_type_media + util.content_type_service))


def everything(_update) -> bool:
    return True


def register_handlers(bot: telebot.TeleBot, project_id: int, app: Flask | None = None):
    """Attach the membership bot's handlers for one project to ``bot``; the handlers object
    (``close()`` it when the bot stops, to send the owner notices still queued)."""
    handlers = ProjectHandlers(app or current_app._get_current_object(), project_id, bot.token)
    bot.message_handler(func=everything, content_types=ALL_CONTENT_TYPES)(
        handlers.unit(on_message)
    )
    bot.edited_message_handler(func=everything, content_types=ALL_CONTENT_TYPES)(
        lambda message: None  # edits change nothing: a code is read when it is sent
    )
    bot.callback_query_handler(func=everything)(handlers.unit(on_callback))
    bot.my_chat_member_handler()(handlers.unit(bot_chats.on_my_chat_member))
    bot.chat_member_handler()(handlers.unit(members.on_chat_member))
    bot.chat_join_request_handler()(handlers.unit(members.on_join_request))
    return handlers


def on_message(handlers: ProjectHandlers, message: types.Message) -> None:
    if message.migrate_to_chat_id or message.migrate_from_chat_id:
        bot_chats.on_chat_migrated(handlers, message)
        return
    if message.chat.type != "private" or message.from_user is None:
        return  # the bot talks to people only in private chats
    if message.from_user.is_bot:
        return
    user = telegram_user(message.from_user)
    chat_id = message.chat.id
    if message.content_type != "text" or not message.text:
        help.text_only(handlers, chat_id, user)
        return
    text = message.text.strip()
    if not text.startswith("/"):
        on_text(handlers, chat_id, user, text)
        return
    command, *rest = text.split(None, 1)
    command = command[1:].split("@", 1)[0].lower()
    payload = rest[0].strip() if rest else ""
    if command == "start":
        on_start(handlers, chat_id, user, payload)
    elif command == "newcode":
        newcode.on_newcode(handlers, chat_id, user)
    elif command == "code":
        owner_codes.on_code_command(handlers, chat_id, user, payload)
    elif command == "cancel":
        help.on_cancel(handlers, chat_id, user)
    elif command == "help":
        help.on_help(handlers, chat_id, user)
    else:
        help.unknown_command(handlers, chat_id, user)


def on_start(handlers: ProjectHandlers, chat_id: int, user: TelegramUser, payload: str) -> None:
    """``/start``: alone, from an activation link (a code) or from the owner's link."""
    if not payload:
        help.welcome(handlers, chat_id, user)
    elif payload.startswith(owner_link.TOKEN_PREFIX):
        owner_link.link_owner(handlers, chat_id, user, payload)
    else:
        activation.activate(handlers, chat_id, user, payload)


def on_text(handlers: ProjectHandlers, chat_id: int, user: TelegramUser, text: str) -> None:
    """Typed text: the answer to the owner's wizard, else a code, else nothing we asked for."""
    if newcode.answer_text(handlers, chat_id, user, text):
        return
    if activation.is_code_entry(handlers, user, text):
        activation.activate(handlers, chat_id, user, text)
        return
    help.nothing_pending(handlers, chat_id, user)


def on_callback(handlers: ProjectHandlers, callback: types.CallbackQuery) -> None:
    message = callback.message
    if message is None or message.chat.type != "private":
        handlers.answer_callback(callback.id)
        return
    user = telegram_user(callback.from_user)
    chat_id = message.chat.id
    parts = (callback.data or "").split(":")
    if parts[0] == keyboards.PLAN_PREFIX and len(parts) in (2, 3):
        handlers.answer_callback(callback.id)
        activation.on_plan_button(handlers, chat_id, user, parts[1:])
    elif parts[0] == keyboards.NEWCODE_PREFIX and len(parts) == 4:
        handlers.answer_callback(callback.id)
        newcode.on_button(handlers, chat_id, user, *parts[1:])
    elif parts[0] == owner_codes.PREFIX:
        owner_codes.on_callback(handlers, callback, chat_id, user, parts)
    else:
        help.button_gone(handlers, callback.id, user)
