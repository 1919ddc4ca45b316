"""Slowing down password guessing: wrong passwords counted in Redis per account and IP, per
account and per IP.

The strict count is per (account, IP): a stranger's wrong passwords from their own address must
not lock the real owner out from theirs. A much higher count per account, whatever the address,
still throttles guessing spread over many addresses, and the per-IP count stops one address
trying many accounts.

Redis, not the process, holds the counts so every gunicorn worker sees the same ones. Counts live
in fixed windows keyed by the window's start, so the caller's ``now`` decides the window and tests
need no clock of Redis' own.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from redis import Redis

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT_AND_IP = 5
MAX_FAILURES_PER_ACCOUNT = 50
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


def _account(email: str) -> str:
    # Hashed so the keys carry no e-mail addresses.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _keys(email: str, ip: str, window_start: int) -> tuple[str, str, str]:
    """The (account, IP), account and IP counters of one window."""
    account = _account(email)
    return (
        f"{KEY_PREFIX}:account-ip:{account}:{ip}:{window_start}",
        f"{KEY_PREFIX}:account:{account}:{window_start}",
        f"{KEY_PREFIX}:ip:{ip}:{window_start}",
    )


def login_blocked(redis: Redis, email: str, ip: str, now: datetime) -> LoginBlocked | None:
    """Whether a log-in for ``email`` from ``ip`` must be refused without checking the password."""
    start, left = _window(now)
    counts = [int(n or 0) for n in redis.mget(*_keys(email, ip, start))]
    limits = (MAX_FAILURES_PER_ACCOUNT_AND_IP, MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_IP)
    if any(n >= limit for n, limit in zip(counts, limits, strict=True)):
        return LoginBlocked(left)
    return None


def record_login_failure(redis: Redis, email: str, ip: str, now: datetime) -> None:
    """Count one wrong password against the account from this IP, the account, and the IP."""
    start, left = _window(now)
    pipe = redis.pipeline()
    for key in _keys(email, ip, start):
        pipe.incr(key)
        pipe.expire(key, left + 60)
    pipe.execute()


def clear_login_failures(redis: Redis, email: str, ip: str, now: datetime) -> None:
    """A correct password wipes the account's count from this IP.

    The account's count over all addresses stays (a right password here says nothing about
    guesses made elsewhere), and so does the IP's (it may be guessing other accounts).
    """
    start, _ = _window(now)
    account_ip_key, _, _ = _keys(email, ip, start)
    redis.delete(account_ip_key)
