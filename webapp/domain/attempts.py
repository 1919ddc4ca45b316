"""The wrong-code counter: 5 wrong codes in 10 minutes and a customer must wait.

Kept in Redis (a sorted set of attempt times per project and Telegram user), so it holds across
bot processes and restarts without touching the database.

Many accounts guessing at one project (new Telegram accounts are cheap: 20 of them made 100
guesses in 4 seconds) is watched per project too: while ``SWARM_ACCOUNTS`` accounts missed in
the window, an account that never activated anything in the project gets one wrong code per
window instead of five, and the owner is told once. Customers who activated before keep their
five, so a swarm of strangers cannot slow the project's real customers down.
"""

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis

from webapp.domain.errors import TooManyAttempts

WINDOW = timedelta(minutes=10)
LIMIT = 5
SWARM_ACCOUNTS = 10
NEWCOMER_LIMIT_IN_SWARM = 1


def _key(project_id: int, telegram_user_id: int) -> str:
    return f"admit:wrong-codes:{project_id}:{telegram_user_id}"


def _accounts_key(project_id: int) -> str:
    return f"admit:wrong-code-accounts:{project_id}"


def guessing_swarm(redis: Redis, project_id: int, now: datetime) -> bool:
    """Whether ``SWARM_ACCOUNTS`` or more accounts sent wrong codes to the project lately."""
    cutoff = (now - WINDOW).timestamp()
    return redis.zcount(_accounts_key(project_id), f"({cutoff}", "+inf") >= SWARM_ACCOUNTS


def claim_swarm_alert(redis: Redis, project_id: int, now: datetime) -> bool:
    """True once per window of a swarm: the caller tells the owner."""
    key = f"admit:wrong-code-swarm-alert:{project_id}"
    return bool(redis.set(key, int(now.timestamp()), nx=True, ex=int(WINDOW.total_seconds())))


def check_attempts(
    redis: Redis, project_id: int, telegram_user_id: int, now: datetime, limit: int = LIMIT
) -> None:
    """Raise ``TooManyAttempts`` (with the seconds left to wait) after ``limit`` recent misses."""
    misses = redis.zrange(_key(project_id, telegram_user_id), 0, -1, withscores=True)
    _refuse_after(misses, now, limit)


def _refuse_after(misses, now: datetime, limit: int) -> None:
    cutoff = (now - WINDOW).timestamp()
    recent = [score for _member, score in misses if score > cutoff]
    if len(recent) >= limit:
        # The wait ends when the oldest of the last ``limit`` misses leaves the window.
        oldest = sorted(recent)[-limit]
        wait = oldest + WINDOW.total_seconds() - now.timestamp()
        raise TooManyAttempts(max(1, math.ceil(wait)))


@dataclass(frozen=True)
class Standing:
    """Whether a swarm guesses at the project, and one account's misses: what entering a code
    checks first, read in one round trip (``standing``)."""

    swarm: bool
    misses: list

    def check(self, now: datetime, limit: int) -> None:
        """``check_attempts`` on what was read."""
        _refuse_after(self.misses, now, limit)


def standing(redis: Redis, project_id: int, telegram_user_id: int, now: datetime) -> Standing:
    """``guessing_swarm`` and the account's misses for ``check_attempts``, pipelined."""
    pipe = redis.pipeline(transaction=False)
    pipe.zcount(_accounts_key(project_id), f"({(now - WINDOW).timestamp()}", "+inf")
    pipe.zrange(_key(project_id, telegram_user_id), 0, -1, withscores=True)
    accounts, misses = pipe.execute()
    return Standing(accounts >= SWARM_ACCOUNTS, misses)


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
    accounts = _accounts_key(project_id)
    pipe.zadd(accounts, {str(telegram_user_id): stamp})
    pipe.zremrangebyscore(accounts, "-inf", (now - WINDOW).timestamp())
    pipe.expire(accounts, int(WINDOW.total_seconds()) + 60)
    count = pipe.execute()[2]
    return int(count)


def attempts_left(count: int, limit: int = LIMIT) -> int:
    return max(0, limit - count)
