"""``python -m bot``: the membership bots of every project, until SIGTERM (see ``bot.polling``)."""

import faulthandler
import logging
import os
import signal
import sys

from bot.fleet import HANDLER_THREADS, Fleet
from webapp import create_app
from webapp.bounded_stop import exit_if_stop_hangs
from webapp.logs import install_redaction

# A stopping poller waits up to 20 s for the batch it is handling, 5 s to confirm it and 10 s
# for the owner notices due; past this bound the process ends anyway, under the 30 s Heroku gives
# before SIGKILL. Nothing is lost then: unconfirmed updates come again (the ledger skips what was
# handled) and unsent notices stay in the outbox for the sweep.
STOP_SECONDS = 28


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("TeleBot").setLevel(logging.CRITICAL)  # failures are logged by us
    install_redaction()
    # `kill -USR1 <pid>` prints every thread's stack: the way to see where a bot hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    raise_open_files_limit()
    # One database and one Redis connection for every handler thread: a burst waits for a
    # thread, never for a connection.
    threads = str(HANDLER_THREADS)
    os.environ.setdefault("DB_POOL_SIZE", threads)
    os.environ.setdefault("REDIS_MAX_CONNECTIONS", str(HANDLER_THREADS * 2 + 10))
    app = create_app(migrations=False)
    if app.config["BOT_MODE"] == "webhook":
        return wait_in_webhook_mode()
    # Any number of these processes share the bots through leases in Redis (see bot.fleet).
    fleet = Fleet(app)
    exit_if_stop_hangs(fleet.stop_event, STOP_SECONDS, "The membership bot", sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: fleet.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: fleet.stop_event.set())
    fleet.run()
    return 0


def raise_open_files_limit() -> None:
    """A long poll holds one socket per bot: 1,000 bots do not fit the common soft limit of
    1,024 descriptors, while the hard limit is usually far higher."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            logging.getLogger("bot").warning("open files limit stays at %s", soft)


def wait_in_webhook_mode() -> int:
    """Nothing to poll: Telegram posts updates to the web app. Idle until stopped, so a
    Procfile that still starts a bot process does not restart it in a loop."""
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.getLogger("bot").info(
        "membership bot started: BOT_MODE=webhook, updates arrive at the web app; nothing to poll"
    )
    stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
