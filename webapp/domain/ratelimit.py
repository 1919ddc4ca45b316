"""Slowing down password guessing without letting strangers lock an owner out.

Wrong passwords are counted in Redis per (account, IP), per account and per IP. Only the
strict (account, IP) count blocks, so a stranger's guesses block the stranger's address. A device
(a cookie) or an address that logged in to the account before is let through past the other two.
Everyone else trying an account that many addresses are guessing at is slowed down, to one try
per ``SLOW_DOWN_SECONDS`` for the account, never blocked; an address trying many accounts is
blocked for the window.

Redis, not the process, holds the counts so every gunicorn worker sees the same ones. Counts live
in fixed windows keyed by the window's start, so the caller's ``now`` decides the window and tests
need no clock of Redis' own. A lock, once earned, lasts a whole window from the failure that
earned it (its end is stored in the caller's time): with the window alone, five wrong passwords
in a window's last second would be locked out for one second.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from redis import Redis

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT_AND_IP = 5
MAX_FAILURES_PER_ACCOUNT = 50
MAX_FAILURES_PER_IP = 30
KEY_PREFIX = "admit:login-failures"
SLOW_DOWN_SECONDS = 10
DEVICE_COOKIE = "admit_device"
DEVICE_COOKIE_DAYS = 365
KNOWN_FOR_SECONDS = 180 * 86400


@dataclass(frozen=True)
class LoginBlocked:
    """Too many wrong passwords lately; the next try is allowed after ``retry_after_seconds``
    (the dashboard words it: ``webapp.auth.throttle_message``). ``slowed``: the account takes one
    stranger's try per few seconds, rather than this address being locked out."""

    retry_after_seconds: int
    slowed: bool = False

    @property
    def minutes(self) -> int:
        """The wait in whole minutes, rounded up."""
        return max(1, -(-self.retry_after_seconds // 60))


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


def _locks(email: str, ip: str) -> tuple[str, str]:
    """The (account, IP) and IP locks; each holds the Unix second it ends at."""
    return f"{KEY_PREFIX}:lock:{_account(email)}:{ip}", f"{KEY_PREFIX}:lock-ip:{ip}"


def _seconds_left(raw: bytes | None, now: datetime) -> int:
    return max(0, int(raw or 0) - int(now.timestamp()))


def _lock(redis, key: str, now: datetime) -> None:
    """Lock ``key`` for a whole window from ``now``. Redis' expiry only tidies up (a minute
    late, in its own time); the stored end, in the caller's time, decides."""
    redis.set(key, int(now.timestamp()) + WINDOW_SECONDS, ex=WINDOW_SECONDS + 60)


def new_device_token() -> str:
    return secrets.token_urlsafe(24)


def _known_keys(email: str, ip: str, device: str | None) -> list[str]:
    account = _account(email)
    keys = [f"admit:login-known:{account}:ip:{ip}"]
    if device:
        digest = hashlib.sha256(device.encode()).hexdigest()[:32]
        keys.append(f"admit:login-known:{account}:device:{digest}")
    return keys


def login_blocked(
    redis: Redis, email: str, ip: str, device: str | None, now: datetime
) -> LoginBlocked | None:
    """Whether a log-in for ``email`` from ``ip`` (and the device cookie ``device``) must wait
    without its password being checked."""
    start, _ = _window(now)
    _, account_key, _ = _keys(email, ip, start)
    pair_end, ip_end, account = redis.mget(*_locks(email, ip), account_key)
    pair_lock, ip_lock = _seconds_left(pair_end, now), _seconds_left(ip_end, now)
    if pair_lock:
        return LoginBlocked(pair_lock)
    if any(redis.mget(*_known_keys(email, ip, device))):
        return None
    if ip_lock:
        return LoginBlocked(ip_lock)
    if int(account or 0) >= MAX_FAILURES_PER_ACCOUNT:
        # One try per few seconds for the account, whoever takes it: guessing slows to a crawl
        # and the owner on a new device still gets in.
        slot = f"{KEY_PREFIX}:slow:{_account(email)}"
        if not redis.set(slot, 1, nx=True, ex=SLOW_DOWN_SECONDS):
            return LoginBlocked(max(1, int(redis.ttl(slot))), slowed=True)
    return None


def record_login_failure(redis: Redis, email: str, ip: str, now: datetime) -> None:
    """Count one wrong password against the account from this IP, the account, and the IP;
    the failure that reaches a limit locks for a whole window from now."""
    start, left = _window(now)
    pipe = redis.pipeline()
    for key in _keys(email, ip, start):
        pipe.incr(key)
        pipe.expire(key, left + 60)
    pair, _, _, _, address, _ = pipe.execute()
    pair_lock, ip_lock = _locks(email, ip)
    if pair >= MAX_FAILURES_PER_ACCOUNT_AND_IP:
        _lock(redis, pair_lock, now)
    if address >= MAX_FAILURES_PER_IP:
        _lock(redis, ip_lock, now)


def record_login_success(redis: Redis, email: str, ip: str, device: str, now: datetime) -> None:
    """A correct password: this address and device are the owner's from now on, and the
    account's count from this IP is wiped.

    The account's count over all addresses stays (a right password here says nothing about
    guesses made elsewhere), and so does the IP's (it may be guessing other accounts).
    """
    start, _ = _window(now)
    account_ip_key, _, _ = _keys(email, ip, start)
    pipe = redis.pipeline()
    pipe.delete(account_ip_key, _locks(email, ip)[0])
    for key in _known_keys(email, ip, device):
        pipe.set(key, 1, ex=KNOWN_FOR_SECONDS)
    pipe.execute()


MAX_SIGNUPS_PER_IP = 10
SIGNUP_KEY_PREFIX = "admit:signups"


@dataclass(frozen=True)
class SignupBlocked:
    """Too many sign-ups from one address lately (they also probe which e-mails have accounts;
    the dashboard words it: ``webapp.auth.throttle_message``)."""

    retry_after_seconds: int

    @property
    def minutes(self) -> int:
        """The wait in whole minutes, rounded up."""
        return max(1, -(-self.retry_after_seconds // 60))


def signup_blocked(
    redis: Redis, ip: str, now: datetime, kind: str = "signup"
) -> SignupBlocked | None:
    """Count one sign-up (or password-reset request, ``kind``) from ``ip``; refused past
    ``MAX_SIGNUPS_PER_IP`` in the window, and then for a whole window (as a log-in lock)."""
    start, left = _window(now)
    lock = f"{SIGNUP_KEY_PREFIX}:{kind}:lock:{ip}"
    locked = _seconds_left(redis.get(lock), now)
    if locked:
        return SignupBlocked(locked)
    key = f"{SIGNUP_KEY_PREFIX}:{kind}:{ip}:{start}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, left + 60)
    count, _ = pipe.execute()
    if int(count) <= MAX_SIGNUPS_PER_IP:
        return None
    _lock(redis, lock, now)
    return SignupBlocked(WINDOW_SECONDS)
