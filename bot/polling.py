"""Long polling for every project's bot in one process (run by ``python -m bot``).

One poller thread per project token. Every ``BOT_RELOAD_SECONDS`` the project list is read again,
so a new project starts polling and a deleted one stops without a restart. Each batch of updates
is handled before its offset is confirmed to Telegram (at-least-once delivery; the handlers are
idempotent where it matters); updates of different users run in parallel, one user's in order.
SIGTERM (or Ctrl-C) lets the running batches finish, confirms them, and exits.
"""

import contextlib
import logging
import os
import threading
from collections import OrderedDict, defaultdict
from concurrent.futures import ThreadPoolExecutor, wait

import requests
import telebot
from flask import Flask
from sqlalchemy import select
from telebot import apihelper
from telebot.apihelper import ApiTelegramException

from bot import redaction
from bot.dispatch import Dispatcher
from bot.handlers import ALLOWED_UPDATES, ServiceUnavailable
from webapp import clock, telegram
from webapp.domain import bot_health
from webapp.extensions import db
from webapp.models import Project
from webapp.queues import get_redis

log = logging.getLogger("bot")

RELOAD_SECONDS = float(os.environ.get("BOT_RELOAD_SECONDS", "20"))
POLL_TIMEOUT = int(os.environ.get("BOT_POLL_TIMEOUT", "25"))
WORKERS_PER_BOT = int(os.environ.get("BOT_WORKERS", "4"))
# A batch still running after this long on shutdown is abandoned: it is delivered again later.
STOP_GRACE_SECONDS = 20
# Update ids handled but not yet confirmed that a poller remembers, at most (see HandledUpdates).
MAX_REMEMBERED = 10_000


def update_key(update: telebot.types.Update):
    """Updates with the same key are handled in order; different keys may run in parallel."""
    for kind in ("message", "callback_query", "chat_join_request"):
        item = getattr(update, kind, None)
        if item is not None and item.from_user is not None:
            return item.from_user.id
    if update.chat_member is not None:
        return update.chat_member.new_chat_member.user.id
    if update.my_chat_member is not None:
        return update.my_chat_member.chat.id
    return ("update", update.update_id)


class HandledUpdates:
    """Ids of updates handled above the confirmed offset, so a re-delivery is not handled twice.

    When one update must wait for the database or Redis, the offset stays at it and Telegram
    delivers everything after it again, including other people's updates that already went
    through. Those are skipped. Ids below the confirmed offset are forgotten (Telegram never sends
    them again), and at most ``limit`` are kept in any case.
    """

    def __init__(self, limit: int = MAX_REMEMBERED):
        self.limit = limit
        self.ids: OrderedDict[int, None] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, update_id: int) -> None:
        with self.lock:
            self.ids[update_id] = None
            while len(self.ids) > self.limit:
                self.ids.popitem(last=False)

    def __contains__(self, update_id: int) -> bool:
        with self.lock:
            return update_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def forget_below(self, offset: int) -> None:
        with self.lock:
            for update_id in [i for i in self.ids if i < offset]:
                del self.ids[update_id]


class Poller:
    """Long polling for one project's bot, in its own thread."""

    def __init__(self, app: Flask, project_id: int, token: str,
                 pool: ThreadPoolExecutor | None = None):
        self.app = app
        self.project_id = project_id
        self.token = token
        self.dispatcher = Dispatcher(app, project_id, token)
        self.bot = self.dispatcher.bot
        self.handlers = self.dispatcher.handlers
        self.stopping = threading.Event()
        self.busy = threading.Lock()  # held while a batch is handled
        self.offset: int | None = None
        self.handled = HandledUpdates()
        # The fleet (bot.fleet) shares one pool among all its pollers: threads follow the load,
        # not the number of bots. A poller alone (tests) has its own.
        self.own_pool = pool is None
        self.pool = pool or ThreadPoolExecutor(WORKERS_PER_BOT, f"bot{project_id}")
        self.thread = threading.Thread(target=self.run, name=f"poll{project_id}", daemon=True)

    def start(self) -> "Poller":
        self.thread.start()
        return self

    def run(self) -> None:
        failures = unavailable = 0
        self.remove_webhook()
        self.handlers.register_commands()
        while not self.stopping.is_set():
            try:
                updates = self.bot.get_updates(
                    offset=self.offset,
                    timeout=POLL_TIMEOUT + 10,
                    allowed_updates=ALLOWED_UPDATES,
                    long_polling_timeout=POLL_TIMEOUT,
                )
                failures = 0
                self.note_poll(updates=len(updates))
            except Exception as exc:  # noqa: BLE001 - the poller must outlive any failure
                if self.stopping.is_set():
                    return
                failures += 1
                self.note_poll(error=describe(exc, self.token))
                if webhook_conflict(exc) and self.remove_webhook():
                    continue
                delay = self.retry_delay(exc, failures)
                log.warning(
                    "project %s: getUpdates failed (%s); retrying in %.1f s",
                    self.project_id,
                    describe(exc, self.token),
                    delay,
                )
                self.stopping.wait(delay)
                continue
            if not updates:
                continue
            with self.busy:
                if self.stopping.is_set():
                    return  # not confirmed: Telegram delivers these again to the next poller
                failed = self.handle(updates)
                if failed is None:
                    self.offset = updates[-1].update_id + 1
                    self.handled.forget_below(self.offset)
                    unavailable = 0
                    continue
                # Keep the failed update (and what follows) for another try once the database
                # or Redis is back; earlier updates are confirmed. Later updates that did go
                # through come back too: ``handled`` lets them pass unhandled.
                self.offset = failed
                self.handled.forget_below(self.offset)
                unavailable += 1
            self.stopping.wait(min(30.0, 0.5 * 2 ** (unavailable - 1)))

    def remove_webhook(self) -> bool:
        """Delete a webhook left on the token (getUpdates answers 409 while one is set): an owner
        coming from another bot platform usually has one. Whether one was removed."""
        try:
            with telegram.while_someone_waits():  # short tries: polling should not wait long
                info = telegram.get_webhook_info(self.token)
                if not info["url"]:
                    return False
                telegram.delete_webhook(self.token)
        except telegram.TelegramError as exc:
            log.warning("project %s: could not check or remove the webhook: %s",
                        self.project_id, redaction.redact(exc.description, self.token))
            return False
        log.warning("project %s: removed a webhook (%s) so that polling works",
                    self.project_id, info["url"])
        with contextlib.suppress(Exception), self.app.app_context():
            bot_health.record_webhook_removed(get_redis(), self.project_id, info["url"],
                                              clock.now())
        return True

    def note_poll(self, updates: int = 0, error: str | None = None) -> None:
        """Keep the project page's "last heard from Telegram" current; best effort."""
        try:
            with self.app.app_context():
                bot_health.record_poll(get_redis(), self.project_id, clock.now(), updates, error)
        except Exception as exc:  # noqa: BLE001 - health is a display, never a reason to stop
            log.debug("project %s: health not recorded: %s", self.project_id, exc)

    def handle(self, updates: list) -> int | None:
        """Handle a batch; the lowest update id that must be tried again, if any."""
        groups = defaultdict(list)
        for update in updates:
            if update.update_id not in self.handled:
                groups[update_key(update)].append(update)
        futures = [self.pool.submit(self.handle_in_order, group) for group in groups.values()]
        wait(futures)
        failed = [f.result() for f in futures if f.result() is not None]
        return min(failed) if failed else None

    def handle_in_order(self, group: list) -> int | None:
        """One user's updates in order; stops at the first that must be tried again."""
        for update in group:
            try:
                self.dispatcher.dispatch(update)
            except ServiceUnavailable:
                return update.update_id
            self.handled.add(update.update_id)
        return None

    @staticmethod
    def retry_delay(exc: Exception, failures: int) -> float:
        backoff = min(30.0, 0.5 * 2 ** (failures - 1))
        if isinstance(exc, ApiTelegramException):
            if exc.error_code == 429:
                params = (exc.result_json or {}).get("parameters") or {}
                return float(params.get("retry_after") or 1)
            if exc.error_code == 401:
                return 60.0  # token revoked: wait for the owner to fix it
        return backoff

    def stop(self) -> None:
        """Stop polling; wait for the running batch; confirm what was handled."""
        self.stopping.set()
        if self.busy.acquire(timeout=STOP_GRACE_SECONDS):
            try:
                self.confirm()
            finally:
                self.busy.release()
        else:
            log.warning("project %s: batch still running at shutdown", self.project_id)
        if self.own_pool:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.dispatcher.close()

    def confirm(self) -> None:
        """Tell Telegram the handled updates are done, so a restart does not get them again."""
        if self.offset is None:
            return
        url = apihelper.API_URL.format(self.token, "getUpdates")
        try:
            requests.post(url, json={"offset": self.offset, "limit": 1, "timeout": 0}, timeout=5)
        except requests.RequestException as exc:
            # str(exc) holds the request URL, and so the token: log it redacted.
            log.warning("project %s: could not confirm updates: %s", self.project_id,
                        redaction.describe(exc, self.token))


def webhook_conflict(exc: Exception) -> bool:
    return (
        isinstance(exc, ApiTelegramException)
        and exc.error_code == 409
        and "webhook is active" in (exc.description or "")
    )


def describe(exc: Exception, token: str) -> str:
    if isinstance(exc, ApiTelegramException):
        return redaction.redact(f"{exc.error_code} {exc.description}", token)
    return exc.__class__.__name__


def wanted_projects(app: Flask) -> dict[int, str]:
    """Project id → bot token of every live project."""
    with app.app_context():
        try:
            rows = db.session.execute(
                select(Project.id, Project.bot_token, Project.sandbox).where(
                    Project.deleted_at.is_(None)
                )
            ).all()
        finally:
            db.session.remove()
    for _project_id, token, sandbox in rows:
        if sandbox:
            telegram.route_to_sandbox(token)
    return {project_id: token for project_id, token, _sandbox in rows}
