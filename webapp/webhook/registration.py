"""Which URL Telegram posts each project's updates to, and keeping Telegram's setting in line.

In webhook mode every live project has a webhook at ``PUBLIC_URL/telegram/webhook/<id>`` with a
secret of its own, derived from ``SECRET_KEY``, the project and its token: a new token gets a new
secret, and nothing needs storing. What was last set is remembered in Redis (a fingerprint per
project, never the token or the secret), so the sweep only calls Telegram for what changed: a new
project or token, a removed project (webhook deleted), a switch of ``BOT_MODE`` (every webhook
deleted when the bots poll). If Redis forgets, the sweep sets everything once more.
"""

import base64
import contextlib
import hashlib
import hmac
import logging
from urllib.parse import urlsplit

from flask import Flask
from redis import Redis
from sqlalchemy import select

from webapp import telegram
from webapp.extensions import db
from webapp.i18n import D_, Worded
from webapp.models import Project

log = logging.getLogger(__name__)

STATE_KEY = "admit:webhooks"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's own default. The web tier answers at once (updates go to RQ), so 40 parallel
# deliveries per bot cost a web worker a few milliseconds each.
MAX_CONNECTIONS = 40
OFFICIAL_HOSTS = frozenset({"api.telegram.org"})


class WebhookUrlRefused(ValueError):
    """The webhook URL cannot work with this Bot API server (plain http against Telegram's)."""


def secret_for(secret_key: str, project_id: int, token: str) -> str:
    """The project's ``secret_token``: 43 characters of ``A-Z a-z 0-9 _ -``, as Telegram wants."""
    digest = hmac.new(
        secret_key.encode(), f"webhook:{project_id}:{token}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def secret_matches(app: Flask, project_id: int, token: str, given: str | None) -> bool:
    expected = secret_for(app.config["SECRET_KEY"], project_id, token)
    return hmac.compare_digest(expected.encode(), (given or "").encode())


def webhook_url(app: Flask, project_id: int) -> str:
    """The project's webhook address, refused when Telegram could not reach it.

    Telegram delivers to HTTPS only; plain http is for a local Bot API server (the official one
    in ``--local`` mode, the tests' emulator, the sandbox).
    """
    path = app.url_map.bind("").build("webhook.receive", {"project_id": project_id})
    url = app.config["PUBLIC_URL"] + path
    official = urlsplit(app.config["TELEGRAM_API_URL"]).hostname in OFFICIAL_HOSTS
    if official and not url.startswith("https://"):
        raise WebhookUrlRefused(
            Worded(
                D_("Telegram only delivers to https:// addresses; PUBLIC_URL is %(url)s"),
                url=app.config["PUBLIC_URL"],
            )
        )
    return url


def _fingerprint(url: str, secret: str) -> str:
    return hashlib.sha256(f"{url}\n{secret}".encode()).hexdigest()[:16]


def register(app: Flask, redis: Redis, project_id: int, token: str) -> None:
    """Point the bot's webhook here; raises ``TelegramError`` or ``WebhookUrlRefused``."""
    url = webhook_url(app, project_id)
    secret = secret_for(app.config["SECRET_KEY"], project_id, token)
    telegram.set_webhook(token, url, secret, max_connections=MAX_CONNECTIONS)
    redis.hset(STATE_KEY, str(project_id), _fingerprint(url, secret))


def unregister(redis: Redis, project_id: int, token: str) -> None:
    """Delete the bot's webhook (a revoked token has none left to delete)."""
    with contextlib.suppress(telegram.Unauthorized):
        telegram.delete_webhook(token)
    redis.hdel(STATE_KEY, str(project_id))


def is_registered(app: Flask, redis: Redis, project_id: int, token: str) -> bool:
    """Whether what Telegram was last told matches this project and token."""
    try:
        url = webhook_url(app, project_id)
    except WebhookUrlRefused:
        return False
    secret = secret_for(app.config["SECRET_KEY"], project_id, token)
    known = redis.hget(STATE_KEY, str(project_id))
    return known is not None and known.decode() == _fingerprint(url, secret)


def sync_webhooks(app: Flask, redis: Redis) -> dict:
    """Set the webhooks that are missing or out of date and delete those no longer wanted.

    Counts of what was done; one project's failure is logged and retried on the next sweep.
    """
    webhook_mode = app.config["BOT_MODE"] == "webhook"
    rows = db.session.execute(
        select(Project.id, Project.bot_token, Project.deleted_at)
    ).all()
    db.session.rollback()  # no transaction held while Telegram answers
    known = {int(k): v.decode() for k, v in redis.hgetall(STATE_KEY).items()}
    counts = {"set": 0, "deleted": 0, "failed": 0}
    for project_id, token, deleted_at in rows:
        wanted = webhook_mode and deleted_at is None
        try:
            if wanted and not is_registered(app, redis, project_id, token):
                register(app, redis, project_id, token)
                counts["set"] += 1
            elif not wanted and project_id in known:
                unregister(redis, project_id, token)
                counts["deleted"] += 1
        except (telegram.TelegramError, WebhookUrlRefused) as exc:
            counts["failed"] += 1
            log.warning("project %s: webhook not %s: %s", project_id,
                        "set" if wanted else "deleted", exc)
    return counts


def sync_all_webhooks() -> dict:
    """RQ job (every minute from ``rq cron``): ``sync_webhooks`` in a unit of work."""
    from webapp.queues import get_redis
    from webapp.worker import app_context

    with app_context() as app:
        return sync_webhooks(app, get_redis())


def token_saved(app: Flask, project_id: int, token: str, old_token: str | None = None) -> None:
    """Right after a project got its (new) token: its webhook now, rather than at the next sweep.

    Best effort, like the sweep that catches up on anything left: the owner's save stands.
    The old token's webhook is deleted, or its bot would keep posting here with a stale secret.
    """
    from redis.exceptions import RedisError

    from webapp.queues import get_redis

    if app.config["BOT_MODE"] != "webhook":
        return
    try:
        with telegram.while_someone_waits():
            if old_token and old_token != token:
                with contextlib.suppress(telegram.TelegramError):
                    telegram.delete_webhook(old_token)
            register(app, get_redis(), project_id, token)
    except (telegram.TelegramError, WebhookUrlRefused, RedisError) as exc:
        log.warning("project %s: webhook not set yet (the sweep retries): %s", project_id, exc)
