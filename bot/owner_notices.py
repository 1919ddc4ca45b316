"""Owner notices, sent off the customers' path and merged when they pile up.

Telegram lets a bot send about one message a second to one chat. When a popular code is tapped by
many people at once, each notice to the owner would otherwise wait for that limit inside the
customer's handler and hold up the next customers' confirmations. Here one thread per bot sends
the notices; whatever queued up meanwhile goes out as one message (up to Telegram's 4096
characters), so the owner still reads every activation and customers never wait for it.

Notices live in memory only: after a crash the dashboard's activity list is the record.
"""

import contextlib
import logging
import queue
import threading

from bot.redaction import describe, redacted_traceback
from webapp import telegram
from webapp.queues import redis_from_url
from webapp.throttle import BotThrottle, bot_id_of

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096
SEPARATOR = "\n\n"
# Notices waiting to be sent, at most; more are dropped (the dashboard's activity list has them).
MAX_PENDING = 1000


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
    """A sender thread for one bot's notices to its owner(s).

    The thread outlives any failure of one send. The queue is bounded: if Telegram stays away
    while customers keep activating, notices beyond ``max_pending`` are dropped (and logged)
    rather than held in memory without end.
    """

    def __init__(
        self,
        token: str,
        redis_url: str = "",
        name: str = "notices",
        max_pending: int = MAX_PENDING,
    ):
        self.token = token
        self.redis_url = redis_url
        self._throttle: BotThrottle | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.started = False
        self.stopping = threading.Event()
        self.dropped = 0
        self.lock = threading.Lock()

    def send(self, chat_id: int, text: str) -> None:
        with self.lock:
            if not self.started:
                self.thread.start()
                self.started = True
        try:
            self.queue.put_nowait((chat_id, text))
        except queue.Full:
            with self.lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 100 == 0:  # a flood of drops is not a flood of logs
                log.warning(
                    "%s: owner notice to %s dropped: %d already waiting (%d dropped so far)",
                    self.thread.name, chat_id, self.queue.maxsize, dropped,
                )

    def run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    batch.append(item)
            try:
                self.deliver(batch)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure
                log.error("%s: owner notices lost: %s", self.thread.name,
                          redacted_traceback(exc, self.token))
            if self.stopping.is_set() and self.queue.empty():
                return

    def deliver(self, batch: list[tuple[int, str]]) -> None:
        by_chat: dict[int, list[str]] = {}
        for chat_id, text in batch:
            by_chat.setdefault(chat_id, []).append(text)
        for chat_id, texts in by_chat.items():
            for message in merge(texts):
                self.pace(chat_id)
                try:
                    telegram.send_message(self.token, chat_id, message)
                except Exception as exc:  # noqa: BLE001 - one failed notice must not stop the rest
                    log.warning("owner notice to %s not sent: %s", chat_id,
                                describe(exc, self.token))

    def pace(self, chat_id: int) -> None:
        """Wait for the bot's shared budget and the owner's chat (1 a second); best effort."""
        if not self.redis_url:
            return
        try:
            if self._throttle is None:
                self._throttle = BotThrottle(redis_from_url(self.redis_url))
            self._throttle.wait(bot_id_of(self.token), chat_id, max_wait=10)
        except Exception as exc:  # noqa: BLE001 - Telegram's own 429 handling remains
            log.info("owner notice sent without pacing (%s)", exc)

    def close(self, timeout: float = 10) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the thread."""
        if not self.started:
            return
        self.stopping.set()
        # Wakes the thread if it waits on an empty queue; if the queue is full it is awake anyway
        # and stops once the queue is empty.
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)
        self.thread.join(timeout)
