"""Run the emulator standalone: ``python -m webapp.telegram_emulator --port 8081``.

Drive it over HTTP: POST JSON to ``/_emulator/<action>`` (add_bot, add_user, add_chat, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .server import BotApiEmulator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp.telegram_emulator",
                                     description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--bot", action="append", default=[], metavar="TOKEN[=USERNAME]",
                        help="register a bot at start-up (repeatable)")
    parser.add_argument("--rate-limit", action="store_true",
                        help="enforce 30 msg/s per bot and 1 msg/s per chat")
    parser.add_argument("--require-start", action=argparse.BooleanOptionalAction, default=True,
                        help="403 for private chats with users who never wrote to the bot "
                             "(as Telegram does; the default)")
    parser.add_argument("--strict", action=argparse.BooleanOptionalAction, default=True,
                        help="refuse calls the Bot API specification does not allow (default)")
    args = parser.parse_args(argv)

    emu = BotApiEmulator(require_start=args.require_start, strict=args.strict)
    for spec in args.bot:
        token, _, username = spec.partition("=")
        emu.add_bot(token=token, username=username or "TestBot")
    if args.rate_limit:
        emu.set_rate_limit()
    done = threading.Event()
    # Before the ready line: a SIGTERM that follows it takes the orderly stop below.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    emu.start(port=args.port, host=args.host)
    print(f"Telegram Bot API emulator listening on {emu.url}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
