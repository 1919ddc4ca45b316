"""Telegram's flood limits per bot, shared by every process through Redis.

Telegram answers 429 beyond about 30 messages a second from one bot and 1 a second to one chat.
Every worker process asks here before a Bot API call; one Lua script checks and records the call
atomically against sliding one-second windows, with Redis's own clock so processes on different
machines agree. A call is only recorded when it may go, so a waiting caller never uses up budget.
"""

import hashlib
import time
import uuid
from collections.abc import Callable

from redis import Redis

# Two short of Telegram's 30: under load a reservation and its arrival drift apart by more than
# the window's margin (measured: 4-8% of a 10,000-reminder sweep got a 429 at 30/s).
PER_BOT_PER_SECOND = 28
PER_CHAT_PER_SECOND = 1
# A little over a second: two calls reserved exactly 1 s apart may arrive closer than that after
# network jitter, and Telegram counts arrivals.
WINDOW_SECONDS = 1.05

# KEYS: the windows (sorted sets of call times in microseconds); ARGV: window (µs), a unique
# member, then one limit per key. Returns 0 when the call may go (and records it), else the
# microseconds to wait until the oldest call in the fullest window leaves it.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local until_free = tonumber(oldest[2]) + window - now
    if until_free > wait then wait = until_free end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(window / 1000) * 2)
end
return 0
"""


class Throttled(Exception):
    """The bot's budget is used up for longer than the caller is willing to wait."""

    def __init__(self, wait: float):
        super().__init__(f"Telegram rate limit: next call in {wait:.2f} s")
        self.wait = wait


class BotThrottle:
    """At most ``per_bot`` calls a second per bot and ``per_chat`` a second per (bot, chat)."""

    def __init__(
        self,
        redis: Redis,
        per_bot: int = PER_BOT_PER_SECOND,
        per_chat: int = PER_CHAT_PER_SECOND,
        window: float = WINDOW_SECONDS,
        prefix: str = "admit:throttle",
    ):
        self.redis = redis
        self.per_bot = per_bot
        self.per_chat = per_chat
        self.window_us = int(window * 1_000_000)
        self.prefix = prefix
        self._script = redis.register_script(_RESERVE)

    def keys(self, bot_id: int | str, chat_id: int | None) -> tuple[list[str], list[int]]:
        keys, limits = [f"{self.prefix}:bot:{bot_id}"], [self.per_bot]
        if chat_id is not None:
            keys.append(f"{self.prefix}:chat:{bot_id}:{chat_id}")
            limits.append(self.per_chat)
        return keys, limits

    def reserve(self, bot_id: int | str, chat_id: int | None = None) -> float:
        """Take one call's place now (returns 0.0), or say how many seconds until one is free.

        ``chat_id`` counts the call against the chat's own limit too: pass it for messages.
        """
        keys, limits = self.keys(bot_id, chat_id)
        member = uuid.uuid4().hex
        wait_us = self._script(keys=keys, args=[self.window_us, member, *limits])
        return int(wait_us) / 1_000_000

    def wait(
        self,
        bot_id: int | str,
        chat_id: int | None = None,
        *,
        max_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> float:
        """Block until the call may go and take its place; the seconds waited.

        Raises ``Throttled`` instead of waiting longer than ``max_wait`` in all.
        """
        waited = 0.0
        while True:
            wait = self.reserve(bot_id, chat_id)
            if wait <= 0:
                return waited
            if waited + wait > max_wait:
                raise Throttled(wait)
            sleep(wait)
            waited += wait


def bot_id_of(token: str) -> str:
    """The bot's numeric id, the part of its token before the colon (tokens never go to Redis)."""
    head, _, _ = token.partition(":")
    return head if head.isdigit() else hashlib.sha256(token.encode()).hexdigest()[:16]
