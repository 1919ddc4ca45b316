"""Is the project's bot alive? What the poller saw last, and what is wrong in plain words.

The poller writes a small hash per project to Redis as it polls (cheap, and stale health is no
loss: the next poll writes it again); the project page reads it together with the resources'
rights and the webhook state Telegram reports.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis import Redis

from webapp.i18n import D_, Worded
from webapp.models import Resource

# Polls come every BOT_POLL_TIMEOUT (25 s) at the latest; after this long without one the
# bot process is down or cannot reach Telegram.
POLL_SILENCE = timedelta(minutes=2)


def _key(project_id: int) -> str:
    return f"admit:bot-health:{project_id}"


def record_poll(
    redis: Redis, project_id: int, now: datetime, updates: int = 0, error: str | None = None
) -> None:
    """A getUpdates answered (with ``updates`` updates) or failed (``error``)."""
    values = {"last_poll_at": now.isoformat()}
    if error:
        values = {"last_error_at": now.isoformat(), "last_error": error[:300]}
    elif updates:
        values["last_update_at"] = now.isoformat()
    if not error:
        values["last_error"] = ""
    redis.hset(_key(project_id), mapping=values)


def record_webhook_removed(redis: Redis, project_id: int, url: str, now: datetime) -> None:
    redis.hset(
        _key(project_id),
        mapping={"webhook_removed_at": now.isoformat(), "webhook_removed_url": url[:300]},
    )


@dataclass
class BotHealth:
    last_poll_at: datetime | None = None
    last_update_at: datetime | None = None
    last_error: str | None = None
    webhook_url: str = ""
    webhook_removed_at: datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def _moment(raw: bytes | str | None) -> datetime | None:
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bot_health(
    redis: Redis,
    project_id: int,
    bot_username: str,
    resources: list[Resource],
    webhook_url: str | None,
    now: datetime,
) -> BotHealth:
    """The bot's state and each problem with how to fix it. ``webhook_url`` None: not asked."""
    raw = {
        (k.decode() if isinstance(k, bytes) else k): v
        for k, v in redis.hgetall(_key(project_id)).items()
    }
    error = raw.get("last_error")
    error = error.decode() if isinstance(error, bytes) else error
    health = BotHealth(
        last_poll_at=_moment(raw.get("last_poll_at")),
        last_update_at=_moment(raw.get("last_update_at")),
        last_error=error or None,
        webhook_url=webhook_url or "",
        webhook_removed_at=_moment(raw.get("webhook_removed_at")),
    )
    if health.webhook_url:
        health.problems.append(
            Worded(
                D_(
                    "A webhook is set on this bot (%(url)s), so Telegram sends its updates "
                    "elsewhere and Admit receives nothing. The bot process removes it when it "
                    "starts; if it comes back, another service (a previous bot platform) still "
                    "uses this token: disconnect the bot there, or give Admit its own bot."
                ),
                url=health.webhook_url,
            )
        )
    if health.last_poll_at is None or now - health.last_poll_at > POLL_SILENCE:
        if health.last_poll_at:
            silent = Worded(
                D_(
                    "The bot process has not heard from Telegram since %(when)s UTC: customers' "
                    "/start and joins are not being answered. Check that the bot process is "
                    "running."
                ),
                when=health.last_poll_at.strftime("%d %b %Y %H:%M"),
            )
        else:
            silent = Worded(
                D_(
                    "The bot process has not heard from Telegram: customers' /start and joins "
                    "are not being answered. Check that the bot process is running."
                )
            )
        if health.last_error:
            silent = Worded(
                D_("%(problem)s The last error was: %(error)s."),
                problem=silent, error=health.last_error,
            )
        health.problems.append(silent)
    for resource in resources:
        if not resource.bot_is_admin:
            health.problems.append(
                Worded(
                    D_(
                        "@%(bot)s is no longer an administrator of “%(chat)s”: add it back as an "
                        "administrator with the rights Invite users and Ban users."
                    ),
                    bot=bot_username, chat=resource.title,
                )
            )
            continue
        if not resource.can_invite_users and not resource.can_restrict_members:
            rights = Worded(D_("Invite users (via link) and Ban users"))
        elif not resource.can_invite_users:
            rights = Worded(D_("Invite users (via link)"))
        elif not resource.can_restrict_members:
            rights = Worded(D_("Ban users"))
        else:
            continue
        health.problems.append(
            Worded(
                D_(
                    "In “%(chat)s” @%(bot)s lacks the right %(rights)s: customers cannot be "
                    "admitted or removed there. Edit the bot's administrator rights in the "
                    "chat's settings."
                ),
                chat=resource.title, bot=bot_username, rights=rights,
            )
        )
    return health


def last_polls(redis: Redis, project_ids: list[int]) -> dict[int, datetime | None]:
    """When each project's bot last had an answer to getUpdates (``None``: not seen), for the
    owner's "needs attention" inbox and digest."""
    if not project_ids:
        return {}
    pipe = redis.pipeline()
    for project_id in project_ids:
        pipe.hget(_key(project_id), "last_poll_at")
    return {pid: _moment(raw) for pid, raw in zip(project_ids, pipe.execute(), strict=True)}
