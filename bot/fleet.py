"""Polling that scales: any number of ``python -m bot`` processes share the bots through leases.

Each process announces itself in Redis (a key with a TTL, renewed every tick) and polls only the
bots it wins by rendezvous hashing among the live processes, once it holds the bot's lease (a
``SET NX`` key with a TTL, renewed every tick by the holder only). So:

- a new process takes its share: the others see it, stop the bots it now wins, confirm their
  batches, and release those leases; it acquires them on a later tick;
- a process that dies stops renewing: its announcement and its leases run out within
  ``LEASE_SECONDS`` and the survivors take its bots over on their next tick;
- never two pollers on one token: a lease is acquired only when free, released only after the
  poller stopped, and a holder that cannot renew stops polling before its lease can run out.

Updates are handled through ``bot.dispatch``, so a takeover that gets an unconfirmed batch again
does not handle it twice.
"""

import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError

from bot.dispatch import ALIVE_PREFIX
from bot.polling import Poller, wanted_projects
from webapp.queues import get_redis
from webapp.throttle import bot_id_of

log = logging.getLogger("bot")

LEASE_SECONDS = int(os.environ.get("BOT_LEASE_SECONDS", "30"))
RELOAD_SECONDS = float(os.environ.get("BOT_RELOAD_SECONDS", "20"))
# How often leases are renewed and shares recomputed; a lease outlives several missed ticks.
TICK_SECONDS = float(os.environ.get("BOT_TICK_SECONDS") or min(5.0, RELOAD_SECONDS))
# Threads handling updates, shared by every bot of the process (the pool of database connections
# is sized from the same number: see webapp.config).
HANDLER_THREADS = int(os.environ.get("BOT_HANDLER_THREADS", "16"))

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class PollerLeases:
    """Who polls which bot, in Redis. Keys hold bot ids and process ids, never tokens."""

    PROCESSES = "admit:bot-processes"

    def __init__(self, redis: Redis, process_id: str | None = None, ttl: int = LEASE_SECONDS):
        self.redis = redis
        self.process_id = process_id or (
            f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.ttl = ttl
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def lease_key(bot_id: str) -> str:
        return f"admit:poll-lease:{bot_id}"

    def _alive_key(self, process_id: str) -> str:
        return ALIVE_PREFIX + process_id

    def heartbeat(self) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self._alive_key(self.process_id), b"1", ex=self.ttl)
        pipe.sadd(self.PROCESSES, self.process_id)
        pipe.execute()

    def leave(self) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(self._alive_key(self.process_id))
        pipe.srem(self.PROCESSES, self.process_id)
        pipe.execute()

    def live_processes(self) -> list[str]:
        members = sorted(m.decode() for m in self.redis.smembers(self.PROCESSES))
        pipe = self.redis.pipeline()
        for member in members:
            pipe.exists(self._alive_key(member))
        alive = [m for m, up in zip(members, pipe.execute(), strict=True) if up]
        gone = set(members) - set(alive)
        if gone:
            self.redis.srem(self.PROCESSES, *gone)
        return alive

    @staticmethod
    def winner(bot_id: str, processes: list[str]) -> str | None:
        """Rendezvous hashing: each bot's process, moving as few bots as possible on a change."""
        return max(
            processes,
            key=lambda p: hashlib.blake2b(f"{bot_id}/{p}".encode(), digest_size=8).digest(),
            default=None,
        )

    def acquire(self, bot_id: str) -> bool:
        return bool(self.redis.set(self.lease_key(bot_id), self.process_id, nx=True, ex=self.ttl))

    def renew(self, bot_ids: list[str]) -> set[str]:
        """The leases still ours, renewed for another ``ttl``."""
        pipe = self.redis.pipeline()
        for bot_id in bot_ids:
            self._renew(keys=[self.lease_key(bot_id)], args=[self.process_id, self.ttl],
                        client=pipe)
        return {b for b, ok in zip(bot_ids, pipe.execute(), strict=True) if ok}

    def release(self, bot_id: str) -> None:
        self._release(keys=[self.lease_key(bot_id)], args=[self.process_id])

    def holder(self, bot_id: str) -> str | None:
        value = self.redis.get(self.lease_key(bot_id))
        return value.decode() if value else None


class Fleet:
    """The pollers of one process: the bots this process wins and holds the lease of."""

    def __init__(
        self,
        app: Flask,
        leases: PollerLeases | None = None,
        projects: Callable[[], dict[int, str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        if leases is None:
            with app.app_context():
                leases = PollerLeases(get_redis())
        self.leases = leases
        self.projects = projects or (lambda: wanted_projects(app))
        self.clock = clock
        self.pool = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="handler")
        self.pollers: dict[int, Poller] = {}
        self.renewed_at: dict[int, float] = {}
        self.stopping: dict[str, threading.Thread] = {}  # bot id → the thread stopping its poller
        self.wanted: dict[int, str] = {}
        self.loaded_at: float | None = None
        self.stop_event = threading.Event()

    # ---- one tick -------------------------------------------------------------------------------

    def tick(self) -> None:
        """Announce, renew, then start and stop pollers so this process polls exactly its share."""
        now = self.clock()
        self._forget_finished_stops()
        if self.loaded_at is None or now - self.loaded_at >= RELOAD_SECONDS:
            try:
                self.wanted = self.projects()
                self.loaded_at = now
            except Exception:
                log.exception("could not read the projects; keeping the current pollers")
        try:
            self.leases.heartbeat()
            live = self.leases.live_processes()
            held = self._renew(now)
        except RedisError as exc:
            self._outlive_leases(now, exc)
            return
        for project_id, poller in list(self.pollers.items()):
            bot_id = bot_id_of(poller.token)
            lost = project_id not in held
            moved = self.wanted.get(project_id) != poller.token
            not_ours = self.leases.winner(bot_id, live) != self.leases.process_id
            if lost or moved or not_ours:
                reason = "lease lost" if lost else "token changed" if moved else "rebalanced"
                self._stop(project_id, release=not lost, reason=reason)
        for project_id, token in self.wanted.items():
            bot_id = bot_id_of(token)
            if project_id in self.pollers or bot_id in self.stopping:
                continue
            if self.leases.winner(bot_id, live) != self.leases.process_id:
                continue
            try:
                if not self.leases.acquire(bot_id):
                    continue  # its previous poller has not let go yet: a later tick
            except RedisError:
                return
            log.info("project %s: polling its bot (%s)", project_id, bot_id)
            poller = Poller(self.app, project_id, token, pool=self.pool)
            poller.dispatcher.claimant = self.leases.process_id
            self.pollers[project_id] = poller.start()
            self.renewed_at[project_id] = now

    def _renew(self, now: float) -> set[int]:
        by_bot = {bot_id_of(p.token): pid for pid, p in self.pollers.items()}
        held = {by_bot[b] for b in self.leases.renew(list(by_bot))}
        for project_id in held:
            self.renewed_at[project_id] = now
        return held

    def _outlive_leases(self, now: float, exc: Exception) -> None:
        """Redis is away: keep polling only while our leases surely still stand."""
        log.warning("leases not renewed (%s)", exc.__class__.__name__)
        margin = 2 * TICK_SECONDS
        for project_id in list(self.pollers):
            if now - self.renewed_at.get(project_id, now) > self.leases.ttl - margin:
                self._stop(project_id, release=False, reason="lease about to run out")

    def _stop(self, project_id: int, release: bool, reason: str) -> None:
        """Stop a poller in the background; its lease is released once it has stopped."""
        poller = self.pollers.pop(project_id)
        self.renewed_at.pop(project_id, None)
        bot_id = bot_id_of(poller.token)
        log.info("project %s: stopping its bot (%s)", project_id, reason)

        def stop() -> None:
            # A long poll still in flight after this gets nothing: the next holder's first
            # getUpdates ends it, and a stopping poller neither handles nor confirms a batch.
            poller.stop()
            if release:
                with contextlib.suppress(RedisError):  # else it runs out by itself
                    self.leases.release(bot_id)

        thread = threading.Thread(target=stop, name=f"stop{project_id}", daemon=True)
        self.stopping[bot_id] = thread
        thread.start()

    def _forget_finished_stops(self) -> None:
        for bot_id, thread in list(self.stopping.items()):
            if not thread.is_alive():
                del self.stopping[bot_id]

    # ---- the process ----------------------------------------------------------------------------

    def run(self) -> None:
        log.info("membership bot started (process %s, tick %s s, leases %s s)",
                 self.leases.process_id, TICK_SECONDS, self.leases.ttl)
        while not self.stop_event.is_set():
            self.tick()
            self.stop_event.wait(TICK_SECONDS)
        self.shutdown()
        log.info("membership bot stopped")

    def shutdown(self) -> None:
        """Stop every poller, confirm their batches, release their leases, leave the fleet."""
        log.info("stopping %d bot(s)", len(self.pollers))
        for project_id in list(self.pollers):
            self._stop(project_id, release=True, reason="shutting down")
        for thread in list(self.stopping.values()):
            thread.join()
        self.stopping.clear()
        with contextlib.suppress(RedisError):
            self.leases.leave()
        self.pool.shutdown(wait=False, cancel_futures=True)
