"""``python -m bot``: the membership bots of every project, until SIGTERM (see ``bot.polling``)."""

import faulthandler
import logging
import os
import signal
import sys

from bot.polling import Supervisor
from webapp import create_app
from webapp.logs import install_redaction


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
    app = create_app()
    supervisor = Supervisor(app)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop_event.set())
    supervisor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
