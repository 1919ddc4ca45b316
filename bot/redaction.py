"""Bot tokens kept out of the logs.

pyTelegramBotAPI puts the token in every request URL (``/bot<TOKEN>/getUpdates``), and a requests
exception's message repeats that URL; so does a traceback. Whatever the bot logs about a failure
goes through here first.
"""

import traceback

from webapp import logs
from webapp.logs import PLACEHOLDER, TOKEN_PATTERN  # noqa: F401 - the names callers know


def redact(text: str, token: str | None = None) -> str:
    """``text`` with ``token`` (and anything shaped like a bot token) replaced by ``<token>``."""
    return logs.redact(text, token)


def describe(exc: BaseException, token: str | None = None) -> str:
    """One line for a log: the exception's class and its redacted message."""
    message = redact(str(exc), token)
    name = exc.__class__.__name__
    return f"{name}: {message}" if message else name


def redacted_traceback(exc: BaseException, token: str | None = None) -> str:
    """The full traceback (with chained causes) for a log, tokens removed."""
    return redact("".join(traceback.format_exception(exc)).rstrip(), token)
