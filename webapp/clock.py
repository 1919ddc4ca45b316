"""The time the lifecycle jobs work with: the real UTC time, or a test's clock.

End-to-end tests move time forward without waiting a day: they store a moment under
``FAKE_NOW_KEY`` in Redis and every sweep and job in every process reads it. That key is only
read when the application is under test (``TESTING``) or the process was started with
``ADMIT_FAKE_CLOCK=1`` — and never when ``ADMIT_ENV`` is ``production``, whatever the
environment or Redis say.
"""

import os
from datetime import UTC, datetime

from flask import Flask, current_app

from webapp.models import utcnow
from webapp.queues import get_redis

FAKE_NOW_KEY = "admit:fake-now"


def fake_clock_allowed(app: Flask) -> bool:
    if app.config.get("ADMIT_ENV") == "production":
        return False
    return bool(app.config.get("TESTING")) or os.environ.get("ADMIT_FAKE_CLOCK") == "1"


def now() -> datetime:
    """The current aware UTC time (a test's clock when one is set and allowed)."""
    app = current_app._get_current_object()
    if fake_clock_allowed(app):
        raw = get_redis().get(FAKE_NOW_KEY)
        if raw:
            return datetime.fromisoformat(raw.decode()).astimezone(UTC)
    return utcnow()


def set_fake_now(redis, moment: datetime | None) -> None:
    """Tests: make every process's ``now()`` return ``moment`` (``None`` goes back to real time)."""
    if moment is None:
        redis.delete(FAKE_NOW_KEY)
        return
    if moment.tzinfo is None:
        raise ValueError("the fake clock takes aware datetimes")
    redis.set(FAKE_NOW_KEY, moment.astimezone(UTC).isoformat())
