"""Owner notices, sent off the customers' path and merged when they pile up.

Telegram lets a bot send about one message a second to one chat. When a popular code is tapped by
many people at once, each notice to the owner would otherwise wait for that limit inside the
customer's handler and hold up the next customers' confirmations. So the notices are rows of the
outbox (webapp.domain.outbox), written in the activation's transaction, and one thread per bot
sends them: woken after each activation, it takes every notice due at once and sends them merged
(up to Telegram's 4096 characters), so the owner still reads every activation and customers never
wait for it. What this thread does not get to — the bot crashed, Telegram is away — the lifecycle
sweep sends later: nothing waits in memory only.
"""

import logging
import threading

from flask import Flask

from bot.redaction import redacted_traceback

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096
SEPARATOR = "\n\n"


def merge(texts: list[str]) -> list[str]:
    """``texts`` joined into as few messages as fit Telegram's length limit, in order."""
    messages: list[str] = []
    for text in texts:
        if messages and len(messages[-1]) + len(SEPARATOR) + len(text) <= MAX_MESSAGE:
            messages[-1] += SEPARATOR + text
        else:
            messages.append(text)
    return messages


class OwnerNotices:
    """A sender thread for one project's owner notices, woken when there are new ones.

    The thread outlives any failure of one round: the notices stay in the outbox and go in the
    next round, or with the sweep.
    """

    def __init__(self, app: Flask, project_id: int, token: str, name: str = "notices"):
        self.app = app
        self.project_id = project_id
        self.token = token
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.started = False
        self.wanted = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def wake(self) -> None:
        """There are notices to send (already committed to the outbox)."""
        with self.lock:
            if not self.started:
                self.thread.start()
                self.started = True
        self.wanted.set()

    def run(self) -> None:
        while True:
            self.wanted.wait()
            self.wanted.clear()
            self.send_due()
            if self.stopping.is_set():
                return

    def send_due(self) -> None:
        """One round: everything due now, in batches, until none is left."""
        from bot.outbox import deliver_owner_notices
        from webapp import clock
        from webapp.extensions import db

        try:
            with self.app.app_context():
                try:
                    while deliver_owner_notices(db.session, self.project_id, clock.now()):
                        pass
                finally:
                    db.session.remove()
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure
            log.error("%s: owner notices left for the sweep: %s", self.thread.name,
                      redacted_traceback(exc, self.token))

    def close(self, timeout: float = 10) -> None:
        """Send what is due (for at most ``timeout`` seconds), then stop the thread."""
        if not self.started:
            return
        self.stopping.set()
        self.wanted.set()
        self.thread.join(timeout)
