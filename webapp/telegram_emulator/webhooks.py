"""Webhook delivery, as Telegram does it: each pending update is POSTed as JSON to the bot's
webhook URL with its ``X-Telegram-Bot-Api-Secret-Token``; a 2xx answer confirms it, anything else
(or no answer) leaves it queued and is retried later, and shows in getWebhookInfo's last error.

Like the official server in ``--local`` mode, any http(s) URL is accepted (tests and the sandbox
listen on plain http). ``secret_token`` is checked as the real server does.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .params import bad_request

if TYPE_CHECKING:
    from .server import BotApiEmulator

_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]*$")
DEFAULT_MAX_CONNECTIONS = 40
RETRY_SECONDS = (0.2, 0.5, 1, 2, 5)  # Telegram backs off too; short here so tests stay quick
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def read_webhook_settings(p) -> dict:
    """setWebhook's url, secret_token and max_connections, refused as the real server does."""
    url = p.str("url", "")
    secret = p.str("secret_token", "")
    if len(secret) > 256:
        raise bad_request("secret token is too long")
    if not _SECRET_RE.match(secret):
        raise bad_request("secret token contains unallowed characters")
    if url and not re.match(r"^https?://[^/\s]+", url):
        raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
    max_connections = p.int("max_connections", DEFAULT_MAX_CONNECTIONS)
    return {
        "webhook_url": url,
        "webhook_secret": secret,
        "webhook_max_connections": max(1, min(100, max_connections)),
    }


class WebhookDelivery:
    """One scheduler thread and a small pool of senders for every bot with a webhook."""

    def __init__(self, emulator: BotApiEmulator, senders: int = 16):
        self.emu = emulator
        self.pool = ThreadPoolExecutor(senders, thread_name_prefix="emu-webhook")
        self.in_flight: dict[str, set[int]] = {}
        self.retry_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.thread = threading.Thread(target=self.run, name="emu-webhooks", daemon=True)

    def start(self) -> WebhookDelivery:
        self.thread.start()
        return self

    def stop(self) -> None:
        with self.emu._cond:
            self.emu._hook_cond.notify_all()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def run(self) -> None:
        emu = self.emu
        while not emu._stop_event.is_set():
            with emu._cond:
                for job in self._due():
                    self.pool.submit(self._send, *job)
                # Woken when an update is queued or a delivery ends; the timeout sends retries.
                emu._hook_cond.wait(0.1)

    def _due(self) -> list:
        """Updates to send now, marked in flight; under the emulator's lock."""
        now = time.monotonic()
        jobs = []
        for token, bot in self.emu._bots.items():
            url = bot.get("webhook_url")
            if not url or not bot["updates"] or self.retry_at.get(token, 0) > now:
                continue
            flying = self.in_flight.setdefault(token, set())
            room = bot.get("webhook_max_connections", DEFAULT_MAX_CONNECTIONS) - len(flying)
            for update in bot["updates"]:
                if room <= 0:
                    break
                if update["update_id"] in flying:
                    continue
                flying.add(update["update_id"])
                room -= 1
                jobs.append((token, url, bot.get("webhook_secret", ""), copy.deepcopy(update)))
        return jobs

    def _send(self, token: str, url: str, secret: str, update: dict) -> None:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers,
                                         method="POST")
        error = None
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            status, error = None, f"Connection failed: {exc.__class__.__name__}"
        emu = self.emu
        with emu._cond:
            self.in_flight.get(token, set()).discard(update["update_id"])
            bot = emu._bots.get(token)
            if bot is None:
                return
            if status is not None and 200 <= status < 300:
                bot["updates"] = [u for u in bot["updates"]
                                  if u["update_id"] != update["update_id"]]
                self.failures.pop(token, None)
                emu._stats["webhook_deliveries"] += 1
            else:
                failures = self.failures[token] = self.failures.get(token, 0) + 1
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1]
                self.retry_at[token] = time.monotonic() + delay
                bot["webhook_last_error_date"] = emu.now()
                bot["webhook_last_error_message"] = (
                    error or f"Wrong response from the webhook: {status}"
                )
                emu._stats["webhook_failures"] += 1
            emu._cond.notify_all()
            emu._hook_cond.notify_all()
