"""When each project's bot last heard from Telegram, kept in Redis by the bot process.

The poller notes a successful getUpdates at most every ``BEAT_EVERY`` seconds; the owner's inbox
says "not receiving updates" when the last note is older than ``SILENT_AFTER`` (the bot process
is down, or another program polls the same token). Redis losing the keys only makes the next
beat late, never a false "fine".
"""

from datetime import UTC, datetime, timedelta

from redis import Redis

KEY = "admit:bot-polled:{}"
BEAT_EVERY = 30.0
SILENT_AFTER = timedelta(minutes=5)


def record_poll(redis: Redis, project_id: int, now: datetime) -> None:
    redis.set(KEY.format(project_id), int(now.timestamp()), ex=7 * 86400)


def last_polls(redis: Redis, project_ids: list[int]) -> dict[int, datetime | None]:
    """The last successful getUpdates of each project's bot (``None``: not seen)."""
    if not project_ids:
        return {}
    values = redis.mget([KEY.format(pid) for pid in project_ids])
    return {
        pid: datetime.fromtimestamp(int(v), UTC) if v is not None else None
        for pid, v in zip(project_ids, values, strict=True)
    }
