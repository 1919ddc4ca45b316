"""The wrong-code counter: 5 wrong codes in 10 minutes and a customer must wait.

Kept in Redis (a sorted set of attempt times per project and Telegram user), so it holds across
bot processes and restarts without touching the database.
"""

import math
import secrets
from datetime import datetime, timedelta

from redis import Redis

from webapp.domain.errors import TooManyAttempts

WINDOW = timedelta(minutes=10)
LIMIT = 5


def _key(project_id: int, telegram_user_id: int) -> str:
    return f"admit:wrong-codes:{project_id}:{telegram_user_id}"


def check_attempts(redis: Redis, project_id: int, telegram_user_id: int, now: datetime) -> None:
    """Raise ``TooManyAttempts`` (with the seconds left to wait) after ``LIMIT`` recent misses."""
    key = _key(project_id, telegram_user_id)
    cutoff = (now - WINDOW).timestamp()
    recent = [
        score
        for _member, score in redis.zrange(key, 0, -1, withscores=True)
        if score > cutoff
    ]
    if len(recent) >= LIMIT:
        # The wait ends when the oldest of the last LIMIT misses leaves the window.
        oldest = sorted(recent)[-LIMIT]
        wait = oldest + WINDOW.total_seconds() - now.timestamp()
        raise TooManyAttempts(max(1, math.ceil(wait)))


def record_wrong_attempt(
    redis: Redis, project_id: int, telegram_user_id: int, now: datetime
) -> int:
    """Count one wrong code; the number of misses in the window, this one included."""
    key = _key(project_id, telegram_user_id)
    stamp = now.timestamp()
    pipe = redis.pipeline()
    pipe.zadd(key, {f"{stamp}:{secrets.token_hex(4)}": stamp})
    pipe.zremrangebyscore(key, "-inf", (now - WINDOW).timestamp())
    pipe.zcard(key)
    pipe.expire(key, int(WINDOW.total_seconds()) + 60)
    _, _, count, _ = pipe.execute()
    return int(count)


def attempts_left(count: int) -> int:
    return max(0, LIMIT - count)
