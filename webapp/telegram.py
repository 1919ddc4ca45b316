"""Outbound Bot API calls: the one place that knows how to reach Telegram.

Every call goes through ``call``, which turns the Bot API's failures into typed errors and retries
what is worth retrying: a 429 after its ``retry_after``, a 5xx or a network failure with
exponential backoff. A 4xx other than 429 is final. Calls that are not safe to repeat (a message,
a new invite link) are retried only when Telegram certainly did not do them: after a timeout or a
connection lost mid-answer they raise ``Uncertain`` instead of doing it twice.

Parameters travel as a JSON body (files as multipart), never in the URL: pyTelegramBotAPI would
put them in the query string, where long texts hit HTTP 414 and land in proxies' URL logs.
"""

import contextlib
import functools
import io
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime

import requests
import telebot
from telebot import apihelper
from telebot.apihelper import (
    ApiHTTPException,
    ApiInvalidJSONException,
    ApiTelegramException,
)

from webapp import telegram_http

MAX_ATTEMPTS = 5
BACKOFF_BASE = 0.5  # seconds: 0.5, 1, 2, 4 between attempts
MAX_RETRY_AFTER = 60  # a longer 429 wait is given back to the caller (a job re-queues instead)
_max_retry_after: ContextVar[float] = ContextVar("max_retry_after", default=MAX_RETRY_AFTER)
_max_attempts: ContextVar[int] = ContextVar("max_attempts", default=MAX_ATTEMPTS)
# (connect, read) seconds per HTTP request; None leaves pyTelegramBotAPI's (15 s, 30 s+).
_request_timeout: ContextVar[tuple[float, float] | None] = ContextVar(
    "request_timeout", default=None
)
# What a person waiting on the dashboard can be made to wait for one Bot API call, at most:
# two tries of DASHBOARD_TIMEOUT each and one short 429 wait between them. The Procfile's
# gunicorn --timeout must stay above the few calls one page makes (tests/test_config.py checks).
DASHBOARD_ATTEMPTS = 2
DASHBOARD_RETRY_AFTER = 3
DASHBOARD_TIMEOUT = (3.0, 7.0)
DASHBOARD_CALL_BUDGET = DASHBOARD_ATTEMPTS * sum(DASHBOARD_TIMEOUT) + DASHBOARD_RETRY_AFTER


@contextlib.contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """Within this block a 429 asking for more than ``seconds`` raises ``RateLimited`` at once.

    Jobs use it so one flood wait does not hold a worker: they put the work back for later.
    """
    token = _max_retry_after.set(seconds)
    try:
        yield
    finally:
        _max_retry_after.reset(token)


@contextlib.contextmanager
def while_someone_waits() -> Iterator[None]:
    """Two tries and short waits only: a person is looking at a spinner (dashboard requests).

    Telegram being down is then reported in about a second instead of after the full backoff.
    """
    attempts = _max_attempts.set(DASHBOARD_ATTEMPTS)
    retry_after = _max_retry_after.set(DASHBOARD_RETRY_AFTER)
    timeout = _request_timeout.set(DASHBOARD_TIMEOUT)
    try:
        yield
    finally:
        _max_attempts.reset(attempts)
        _max_retry_after.reset(retry_after)
        _request_timeout.reset(timeout)


class TelegramError(Exception):
    """A Bot API call failed for good; ``status`` is Telegram's error_code (None: no answer)."""

    def __init__(self, description: str, status: int | None = None, retry_after: int | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after


class Unauthorized(TelegramError):
    """The bot token is wrong or was revoked."""


class BotBlocked(TelegramError):
    """The user blocked the bot or deleted their account: do not try again."""


class NotStarted(BotBlocked):
    """The user never started the bot (or a join request's window closed): bots may not write
    first, so do not try again until they write to the bot."""


class ChatNotFound(TelegramError):
    """The chat is gone (deleted), or the bot can no longer see it."""


class UserNotFound(TelegramError):
    """Telegram does not know this user id (not a missing chat)."""


class ChatMigrated(TelegramError):
    """A basic group was upgraded to a supergroup: the chat lives on under ``new_chat_id``."""

    def __init__(self, description: str, status: int | None, new_chat_id: int):
        super().__init__(description, status)
        self.new_chat_id = new_chat_id


class NotEnoughRights(TelegramError):
    """The bot is not an administrator of the chat, or lacks the right for this action."""


class BasicGroupUnsupported(TelegramError):
    """The method exists only for supergroups and channels (e.g. unbanChatMember)."""


class RateLimited(TelegramError):
    """Telegram asked us to wait longer than is sensible inside one call."""


class Unreachable(TelegramError):
    """No answer from the Bot API (network failure or 5xx) after every retry."""


class Uncertain(Unreachable):
    """The request reached Telegram but its answer was lost (a timeout, a cut connection): it
    may have been done. Not retried for calls that must not happen twice."""


class WebhookActive(TelegramError):
    """A webhook is set on the token, so getUpdates is refused (409) until it is deleted."""


# Telegram's texts (tdlib/telegram-bot-api Client.cpp) for the bot lacking a place or a right.
_RIGHTS_TEXTS = (
    "not enough rights",
    "need administrator rights",
    "not an administrator",
    "not a member",
    "bot was kicked",
    "have no rights",
)
# An MTProto error passed through as is: all capitals, digits and "_" after "Bad Request: ".
_MTPROTO = re.compile(r"^(?:Bad Request: |Forbidden: )?([A-Z0-9_]+)$")
_MTPROTO_RIGHTS = (
    "CHAT_ADMIN_REQUIRED",
    "CHAT_WRITE_FORBIDDEN",
    "RIGHT_FORBIDDEN",
    "CHAT_FORBIDDEN",
    "USER_RESTRICTED",
    "CHANNEL_PRIVATE",
    "ADMIN_RANK_INVALID",
)
_MTPROTO_GONE = ("CHANNEL_INVALID", "CHAT_ID_INVALID", "PEER_ID_INVALID")


class BotApiAddress:
    """The URL template pyTelegramBotAPI formats each request with, chosen per bot token.

    pyTelegramBotAPI keeps one template per process (``apihelper.API_URL``, used as
    ``.format(token, method)``), but the Bot API address belongs to the project: real Telegram
    for most, the sandbox Telegram for sandbox projects, side by side in one process.
    """

    def __init__(self, path: str):
        self.path = path

    def format(self, token, *rest) -> str:
        return api_url_for(str(token)) + self.path.format(token, *rest)

    def __bool__(self) -> bool:
        return True


_api_url = "https://api.telegram.org"
_sandbox_url = ""
_sandbox_tokens: set[str] = set()


def configure(api_url: str, sandbox_url: str | None = None) -> None:
    """Point pyTelegramBotAPI at ``api_url`` (Telegram, or the emulator in tests), and the
    tokens of sandbox projects at ``sandbox_url``.

    pyTelegramBotAPI keeps these as module globals, so this is per process.
    """
    global _api_url, _sandbox_url
    _api_url = api_url.rstrip("/")
    if sandbox_url is not None:
        _sandbox_url = sandbox_url.rstrip("/")
    apihelper.API_URL = BotApiAddress("/bot{0}/{1}")
    apihelper.FILE_URL = BotApiAddress("/file/bot{0}/{1}")
    apihelper.CUSTOM_REQUEST_SENDER = send_request


def route_to_sandbox(token: str) -> None:
    """From now on this process sends ``token``'s calls to the sandbox Telegram."""
    _sandbox_tokens.add(token)


def api_url_for(token: str) -> str:
    """The Bot API base URL for one bot: the sandbox's for a sandbox bot, else Telegram's.

    A sandbox token never reaches real Telegram: with no sandbox configured its calls go
    nowhere (an unroutable address) and fail as Telegram being unreachable.
    """
    if token in _sandbox_tokens:
        return _sandbox_url or "http://127.0.0.1:9"
    return _api_url


def send_request(method, url, params=None, files=None, timeout=None, proxies=None):
    """pyTelegramBotAPI's HTTP layer (webapp.telegram_http), with this call's timeouts."""
    timeout = _request_timeout.get() or timeout
    return telegram_http.send(method, url, params, files, timeout, proxies)


@functools.lru_cache(maxsize=4096)
def bot_for(token: str) -> telebot.TeleBot:
    """A client for one project's bot; no handlers, no polling. Kept per token (making one
    checks the token's shape and sets up handler lists: CPU on every call otherwise); it holds
    nothing that changes, so threads share it."""
    return telebot.TeleBot(token, threaded=False, parse_mode=None)


def classify(exc: ApiTelegramException) -> TelegramError:
    """The typed error for one Bot API refusal, from the real server's texts.

    The server turns MTProto's upper-case 403s into 400s ("Bad Request: CHAT_ADMIN_REQUIRED"),
    so the status alone does not say "rights"; "user not found" is not a missing chat, and "the
    group chat was deleted" (403) is a chat that is gone, not a right that is missing.
    """
    status = exc.error_code
    description = exc.description or str(exc)
    lowered = description.lower()
    parameters = {}
    if isinstance(exc.result_json, dict):
        parameters = exc.result_json.get("parameters") or {}
    retry_after = parameters.get("retry_after")
    mtproto = _MTPROTO.match(description)
    if status == 401:
        return Unauthorized(description, status)
    if parameters.get("migrate_to_chat_id"):
        return ChatMigrated(description, status, int(parameters["migrate_to_chat_id"]))
    if status == 429:
        return RateLimited(description, status, retry_after)
    if "can't initiate conversation" in lowered:
        return NotStarted(description, status)
    if status == 403 and ("blocked by the user" in lowered or "user is deactivated" in lowered):
        return BotBlocked(description, status)
    if "user not found" in lowered or (mtproto and mtproto.group(1) == "USER_ID_INVALID"):
        return UserNotFound(description, status)
    if "chat not found" in lowered or "chat was deleted" in lowered or (
        mtproto and mtproto.group(1) in _MTPROTO_GONE
    ):
        return ChatNotFound(description, status)
    if "supergroup and channel chats only" in lowered:
        return BasicGroupUnsupported(description, status)
    if any(text in lowered for text in _RIGHTS_TEXTS) or (
        mtproto and mtproto.group(1) in _MTPROTO_RIGHTS
    ):
        return NotEnoughRights(description, status)
    if status == 409 and "webhook is active" in lowered:
        return WebhookActive(description, status)
    if status == 403:
        return NotEnoughRights(description, status)
    return TelegramError(description, status, retry_after)


def _never_sent(exc: Exception) -> bool:
    """Whether a network failure happened before the request reached Telegram at all."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return "NewConnectionError" in type(reason).__name__ or "Failed to establish" in str(
            reason
        )
    return False


def call(
    action: Callable[[], object],
    *,
    sleep: Callable[[float], None] = time.sleep,
    repeatable: bool = True,
):
    """Run one Bot API request (a zero-argument callable), retrying 429, 5xx and network errors.

    ``repeatable=False`` (messages, new invite links): a failure after which Telegram may have
    done it (timeout, cut connection, gateway timeout) raises ``Uncertain`` at once.
    """
    attempts = _max_attempts.get()
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except ApiTelegramException as exc:
            error = classify(exc)
            if isinstance(error, RateLimited):
                wait = error.retry_after or 1
                if wait > _max_retry_after.get() or attempt == attempts:
                    raise error from exc
                sleep(wait)
                continue
            # The Bot API server answered in JSON that it failed: it did not do it.
            if error.status is not None and error.status >= 500 and attempt < attempts:
                sleep(BACKOFF_BASE * 2 ** (attempt - 1))
                continue
            if error.status is not None and error.status >= 500:
                raise Unreachable(error.description, error.status) from exc
            raise error from exc
        except (ApiHTTPException, ApiInvalidJSONException, requests.RequestException) as exc:
            # No answer from the Bot API itself: a cut connection, a timeout, a proxy's error
            # page. requests' messages carry the URL, and so the bot token: never chain them.
            status = getattr(getattr(exc, "result", None), "status_code", None)
            unanswered = status in (502, 503) or _never_sent(exc)
            if not repeatable and not unanswered:
                raise Uncertain(
                    f"Telegram's answer was lost ({exc.__class__.__name__}); it may have done it"
                ) from None
            if attempt == attempts:
                raise Unreachable(f"Telegram did not answer: {exc.__class__.__name__}") from None
            sleep(BACKOFF_BASE * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def get_me(token: str) -> dict:
    """The bot's own user; raises ``Unauthorized`` for a wrong token."""
    me = call(lambda: bot_for(token).get_me())
    return {"id": me.id, "username": me.username, "first_name": me.first_name, "is_bot": me.is_bot}


def send_message(
    token: str, chat_id: int, text: str, reply_markup=None, parse_mode: str | None = "HTML"
) -> int:
    """Send ``text`` (HTML by default: callers escape what they interpolate); the message id."""
    message = call(
        lambda: bot_for(token).send_message(
            chat_id,
            text,
            parse_mode=parse_mode,
            reply_markup=reply_markup,
            link_preview_options=_NO_PREVIEW,
        ),
        repeatable=False,
    )
    return message.message_id


_NO_PREVIEW = telebot.types.LinkPreviewOptions(is_disabled=True)


def send_document(
    token: str, chat_id: int, data: bytes, filename: str, caption: str | None = None
) -> int:
    message = call(
        lambda: bot_for(token).send_document(
            chat_id, io.BytesIO(data), visible_file_name=filename, caption=caption
        ),
        repeatable=False,
    )
    return message.message_id


def create_invite_link(
    token: str,
    chat_id: int,
    *,
    name: str,
    expire_date: datetime | None = None,
    member_limit: int | None = None,
    creates_join_request: bool = False,
) -> str:
    """A new invite link; ``member_limit`` and ``creates_join_request`` exclude each other."""
    link = call(
        lambda: bot_for(token).create_chat_invite_link(
            chat_id,
            name=name[:32],
            expire_date=int(expire_date.timestamp()) if expire_date else None,
            member_limit=member_limit,
            creates_join_request=creates_join_request or None,
        ),
        repeatable=False,
    )
    return link.invite_link


def revoke_invite_link(token: str, chat_id: int, invite_link: str) -> None:
    call(lambda: bot_for(token).revoke_chat_invite_link(chat_id, invite_link))


class BanNotLifted(TelegramError):
    """The ban went through but the unban after it failed: the person is out, and banned until
    ``lift_ban`` succeeds (the caller must make sure it is tried again)."""

    def __init__(self, cause: TelegramError):
        super().__init__(f"banned, but the ban could not be lifted: {cause.description}",
                         cause.status, cause.retry_after)
        self.cause = cause


def remove_member(token: str, chat_id: int, user_id: int) -> None:
    """Remove a user from a chat and let them come back later with a new link.

    A ban removes them; the unban right after lifts the ban (only if banned, so it never
    touches anyone else). Basic groups have no unban (Telegram refuses it there, and a ban in a
    basic group only removes). If the unban fails, ``BanNotLifted`` says so.
    """
    bot = bot_for(token)
    call(lambda: bot.ban_chat_member(chat_id, user_id))
    try:
        lift_ban(token, chat_id, user_id)
    except TelegramError as exc:
        raise BanNotLifted(exc) from exc


def lift_ban(token: str, chat_id: int, user_id: int) -> None:
    """Unban (only if banned); in a basic group, where bans do not last, there is nothing to do."""
    bot = bot_for(token)
    try:
        call(lambda: bot.unban_chat_member(chat_id, user_id, only_if_banned=True))
    except BasicGroupUnsupported:
        return


def get_chat(token: str, chat_ref: int | str) -> dict:
    """A chat by id or @username."""
    chat = call(lambda: bot_for(token).get_chat(chat_ref))
    return {
        "id": chat.id,
        "type": chat.type,
        "title": chat.title,
        "username": chat.username,
    }


def get_chat_member(token: str, chat_id: int, user_id: int) -> dict:
    """A member's status and, for administrators, their rights."""
    member = call(lambda: bot_for(token).get_chat_member(chat_id, user_id))
    return {
        "status": member.status,
        "is_in": member.status in ("creator", "administrator", "member")
        or (member.status == "restricted" and bool(getattr(member, "is_member", False))),
        "can_invite_users": bool(getattr(member, "can_invite_users", False))
        or member.status == "creator",
        "can_restrict_members": bool(getattr(member, "can_restrict_members", False))
        or member.status == "creator",
    }


def approve_join_request(token: str, chat_id: int, user_id: int) -> None:
    call(lambda: bot_for(token).approve_chat_join_request(chat_id, user_id))


def decline_join_request(token: str, chat_id: int, user_id: int) -> None:
    call(lambda: bot_for(token).decline_chat_join_request(chat_id, user_id))


# Passed explicitly to getUpdates and setWebhook: chat_member is only sent when asked for, and
# Telegram keeps the last list given, so leaving it out would inherit an earlier setting.
ALLOWED_UPDATES = [
    "message",
    "callback_query",
    "chat_member",
    "my_chat_member",
    "chat_join_request",
]


def set_webhook(token: str, url: str, secret_token: str, max_connections: int = 40) -> None:
    """Have Telegram POST the bot's updates to ``url`` with ``secret_token`` in a header."""
    call(
        lambda: bot_for(token).set_webhook(
            url=url,
            secret_token=secret_token,
            max_connections=max_connections,
            allowed_updates=ALLOWED_UPDATES,
        )
    )


def get_webhook_info(token: str) -> dict:
    """The webhook set on the token (``url`` empty: none) and Telegram's last error with it."""
    info = call(lambda: bot_for(token).get_webhook_info())
    return {
        "url": info.url or "",
        "pending_update_count": info.pending_update_count or 0,
        "last_error_date": info.last_error_date,
        "last_error_message": info.last_error_message,
    }


def delete_webhook(token: str) -> None:
    """Remove a webhook, keeping the updates waiting (polling then receives them)."""
    call(lambda: bot_for(token).delete_webhook(drop_pending_updates=False))


def set_my_commands(token: str, commands: list[tuple[str, str]], chat_id: int | None = None,
                    language_code: str | None = None):
    """The bot's command menu; for one private chat only when ``chat_id`` is given, for the
    users of one language only when ``language_code`` is."""
    scope = telebot.types.BotCommandScopeChat(chat_id) if chat_id else None
    call(
        lambda: bot_for(token).set_my_commands(
            [telebot.types.BotCommand(c, d) for c, d in commands], scope=scope,
            language_code=language_code,
        )
    )
