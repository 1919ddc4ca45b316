"""Outbound Bot API calls: the one place that knows how to reach Telegram.

Every call goes through ``call``, which turns the Bot API's failures into typed errors and retries
what is worth retrying: a 429 after its ``retry_after``, a 5xx or a network failure with
exponential backoff. A 4xx other than 429 is final.
"""

import contextlib
import io
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

MAX_ATTEMPTS = 5
BACKOFF_BASE = 0.5  # seconds: 0.5, 1, 2, 4 between attempts
MAX_RETRY_AFTER = 60  # a longer 429 wait is given back to the caller (a job re-queues instead)
_max_retry_after: ContextVar[float] = ContextVar("max_retry_after", default=MAX_RETRY_AFTER)
_max_attempts: ContextVar[int] = ContextVar("max_attempts", default=MAX_ATTEMPTS)


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
    attempts = _max_attempts.set(2)
    retry_after = _max_retry_after.set(3)
    try:
        yield
    finally:
        _max_attempts.reset(attempts)
        _max_retry_after.reset(retry_after)


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


class ChatNotFound(TelegramError):
    pass


class NotEnoughRights(TelegramError):
    """The bot is not an administrator of the chat, or lacks the right for this action."""


class RateLimited(TelegramError):
    """Telegram asked us to wait longer than is sensible inside one call."""


class Unreachable(TelegramError):
    """No answer from the Bot API (network failure or 5xx) after every retry."""


def configure(api_url: str) -> None:
    """Point pyTelegramBotAPI at ``api_url`` (Telegram, or the emulator in tests).

    pyTelegramBotAPI keeps these as module globals, so this is per process.
    """
    apihelper.API_URL = api_url + "/bot{0}/{1}"
    apihelper.FILE_URL = api_url + "/file/bot{0}/{1}"


def bot_for(token: str) -> telebot.TeleBot:
    """A client for one project's bot; no handlers, no polling."""
    return telebot.TeleBot(token, threaded=False, parse_mode=None)


def classify(exc: ApiTelegramException) -> TelegramError:
    """The typed error for one Bot API refusal."""
    status = exc.error_code
    description = exc.description or str(exc)
    lowered = description.lower()
    retry_after = None
    if isinstance(exc.result_json, dict):
        retry_after = (exc.result_json.get("parameters") or {}).get("retry_after")
    if status == 401:
        return Unauthorized(description, status)
    if status == 403 and ("blocked" in lowered or "deactivated" in lowered):
        return BotBlocked(description, status)
    if "chat not found" in lowered or "user not found" in lowered:
        return ChatNotFound(description, status)
    if status == 429:
        return RateLimited(description, status, retry_after)
    if "rights" in lowered or "not an administrator" in lowered or "not a member" in lowered:
        return NotEnoughRights(description, status)
    if status == 403:
        return NotEnoughRights(description, status)
    return TelegramError(description, status, retry_after)


def call(action: Callable[[], object], *, sleep: Callable[[float], None] = time.sleep):
    """Run one Bot API request (a zero-argument callable), retrying 429, 5xx and network errors."""
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
            if error.status is not None and error.status >= 500 and attempt < attempts:
                sleep(BACKOFF_BASE * 2 ** (attempt - 1))
                continue
            if error.status is not None and error.status >= 500:
                raise Unreachable(error.description, error.status) from exc
            raise error from exc
        except (ApiHTTPException, ApiInvalidJSONException, requests.RequestException) as exc:
            # No answer from the Bot API itself: a cut connection, a timeout, a proxy's error
            # page. requests' messages carry the URL, and so the bot token: never chain them.
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
            disable_web_page_preview=True,
        )
    )
    return message.message_id


def send_document(
    token: str, chat_id: int, data: bytes, filename: str, caption: str | None = None
) -> int:
    message = call(
        lambda: bot_for(token).send_document(
            chat_id, io.BytesIO(data), visible_file_name=filename, caption=caption
        )
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
        )
    )
    return link.invite_link


def revoke_invite_link(token: str, chat_id: int, invite_link: str) -> None:
    call(lambda: bot_for(token).revoke_chat_invite_link(chat_id, invite_link))


def remove_member(token: str, chat_id: int, user_id: int) -> None:
    """Remove a user from a chat and let them come back later with a new link.

    A ban removes them; the unban right after lifts the ban (only if banned, so it never
    touches anyone else).
    """
    bot = bot_for(token)
    call(lambda: bot.ban_chat_member(chat_id, user_id))
    call(lambda: bot.unban_chat_member(chat_id, user_id, only_if_banned=True))


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


def delete_webhook(token: str) -> None:
    """Back to getUpdates; the updates still pending stay (``drop_pending_updates`` is not sent)."""
    call(lambda: bot_for(token).delete_webhook())


def get_webhook_info(token: str) -> dict:
    info = call(lambda: bot_for(token).get_webhook_info())
    return {
        "url": info.url or "",
        "pending_update_count": info.pending_update_count or 0,
        "last_error_date": info.last_error_date,
        "last_error_message": info.last_error_message,
    }
