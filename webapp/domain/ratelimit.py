"""Slowing down password guessing: wrong passwords counted per account and per IP in Redis.

Redis, not the process, holds the counts so every gunicorn worker sees the same ones. Counts live
in fixed windows keyed by the window's start, so the caller's ``now`` decides the window and tests
need no clock of Redis' own.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from redis import Redis

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 30
KEY_PREFIX = "admit:login-failures"


@dataclass(frozen=True)
class LoginBlocked:
    """Too many wrong passwords lately; the next try is allowed after ``retry_after_seconds``."""

    retry_after_seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after_seconds // 60))
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many wrong passwords. Please try again in {minutes} {unit}."


def _window(now: datetime) -> tuple[int, int]:
    """The current window's start (Unix seconds) and the seconds left in it."""
    stamp = int(now.timestamp())
    start = stamp - stamp % WINDOW_SECONDS
    return start, start + WINDOW_SECONDS - stamp


def _keys(email: str, ip: str, window_start: int) -> tuple[str, str]:
    # Hashed so the keys carry no e-mail addresses.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return (
        f"{KEY_PREFIX}:account:{account}:{window_start}",
        f"{KEY_PREFIX}:ip:{ip}:{window_start}",
    )


def login_blocked(redis: Redis, email: str, ip: str, now: datetime) -> LoginBlocked | None:
    """Whether a log-in for ``email`` from ``ip`` must be refused without checking the password."""
    start, left = _window(now)
    account_key, ip_key = _keys(email, ip, start)
    account_failures, ip_failures = redis.mget(account_key, ip_key)
    if int(account_failures or 0) >= MAX_FAILURES_PER_ACCOUNT:
        return LoginBlocked(left)
    if int(ip_failures or 0) >= MAX_FAILURES_PER_IP:
        return LoginBlocked(left)
    return None


def record_login_failure(redis: Redis, email: str, ip: str, now: datetime) -> None:
    """Count one wrong password against the account and the IP address."""
    start, left = _window(now)
    pipe = redis.pipeline()
    for key in _keys(email, ip, start):
        pipe.incr(key)
        pipe.expire(key, left + 60)
    pipe.execute()


def clear_login_failures(redis: Redis, email: str, now: datetime) -> None:
    """A correct password wipes the account's count (the IP's stays: it may be guessing others)."""
    start, _ = _window(now)
    account_key, _ = _keys(email, "-", start)
    redis.delete(account_key)
