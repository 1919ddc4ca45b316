"""The one clock of the product: the real UTC time, or a test's or a demo's clock.

Every timestamp Admit writes or compares — activations, joins, links, reminders, removals, rows'
``created_at`` — comes from :func:`now`, in the web app, the bot and the jobs alike, so that a
moved clock moves one world and not half of it.

Tests and demos move time without waiting a day: they store a moment under ``FAKE_NOW_KEY`` in
Redis and every process reads it. The moment either stands still (tests: every reading is exactly
that moment) or runs on from where it was set (demos: ``ticking=True``). The key is only read when
the application is under test (``TESTING``) or the process was started with
``ADMIT_FAKE_CLOCK=1`` — and never when ``ADMIT_ENV`` is ``production``, whatever the environment
or Redis say.
"""

import os
import time
from datetime import UTC, datetime

from flask import Flask, current_app, has_app_context

from webapp.queues import get_redis

FAKE_NOW_KEY = "admit:fake-now"


def wall_now() -> datetime:
    """The real time, for what must not follow a moved clock (e.g. RQ's own timestamps)."""
    return datetime.now(UTC)


def moment_from_env(default: str | None = None) -> datetime | None:
    """``ADMIT_TEST_NOW`` (an ISO date-time, UTC when it names no zone), else ``default``, else
    ``None``: the moment the test suite and the benchmarks' checks in it start from.

    A value that is not a date-time raises ``ValueError`` naming it.
    """
    raw = os.environ.get("ADMIT_TEST_NOW") or default
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"ADMIT_TEST_NOW is not an ISO date-time: {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def fake_clock_allowed(app: Flask) -> bool:
    if app.config.get("ADMIT_ENV") == "production":
        return False
    return bool(app.config.get("TESTING")) or os.environ.get("ADMIT_FAKE_CLOCK") == "1"


def now() -> datetime:
    """The current aware UTC time (a test's clock when one is set and allowed).

    Outside an application context (imports, scripts) there is no fake clock to read.
    """
    if has_app_context():
        app = current_app._get_current_object()
        if fake_clock_allowed(app):
            raw = get_redis().get(FAKE_NOW_KEY)
            if raw:
                return _read(raw.decode())
    return wall_now()


def _read(raw: str) -> datetime:
    moment, _, since = raw.partition("|")
    at = datetime.fromisoformat(moment).astimezone(UTC)
    if since:
        return datetime.fromtimestamp(at.timestamp() + time.time() - float(since), UTC)
    return at


def set_fake_now(redis, moment: datetime | None, *, ticking: bool = False) -> None:
    """Make every process's ``now()`` return ``moment`` (``None`` goes back to real time).

    ``ticking`` lets the clock run on from ``moment`` at the real pace instead of standing still.
    """
    if moment is None:
        redis.delete(FAKE_NOW_KEY)
        return
    if moment.tzinfo is None:
        raise ValueError("the fake clock takes aware datetimes")
    value = moment.astimezone(UTC).isoformat()
    if ticking:
        value += f"|{time.time()!r}"
    redis.set(FAKE_NOW_KEY, value)
