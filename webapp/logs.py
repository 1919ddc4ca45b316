"""Logging with secrets kept out: bot tokens never reach a log line, whatever logs them.

pyTelegramBotAPI and urllib3 put the token in URLs (``/bot<TOKEN>/getUpdates``), an exception's
message or traceback repeats them, and a failed SQL statement could carry one as a parameter
(the engines hide parameters too: ``hide_parameters``). ``configure_logging`` puts
``RedactSecrets`` on every handler there is and redacts every record as it is made, so a handler
added later (RQ's, gunicorn's) gets clean records too.
"""

import logging
import re
import threading
import traceback

# Telegram's token shape: the bot's numeric id, a colon, a 35-character secret; and any token
# in a Bot API URL path, whatever its shape.
TOKEN_PATTERN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{30,}")
URL_TOKEN_PATTERN = re.compile(r"/bot\d+:[^/\s?#'\"]+")
PLACEHOLDER = "<token>"
QUIET_LOGGERS = ("urllib3", "requests", "TeleBot")

_known: set[str] = set()
_known_lock = threading.Lock()
_installed = False


def remember_secret(secret: str) -> None:
    """Redact ``secret`` (e.g. a bot token of any shape) from every later log line."""
    if secret:
        with _known_lock:
            _known.add(secret)


def redact(text: str, *secrets: str | None) -> str:
    with _known_lock:
        known = sorted(_known | {s for s in secrets if s}, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, PLACEHOLDER)
    text = URL_TOKEN_PATTERN.sub("/bot" + PLACEHOLDER, text)
    return TOKEN_PATTERN.sub(PLACEHOLDER, text)


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_admit_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not lose the record
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._admit_redacted = True


class RedactSecrets(logging.Filter):
    """Rewrites a record with bot tokens (known ones and anything token-shaped) replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _all_handlers():
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        yield from logger.handlers


def install_redaction() -> None:
    """``RedactSecrets`` on every handler now configured, and on every record made from now."""
    global _installed
    for handler in _all_handlers():
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
    for name in QUIET_LOGGERS:
        # Even at LOG_LEVEL=DEBUG: they log every request URL, tokens included.
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.WARNING))
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_record_factory(*args, **kwargs):
        record = make_record(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_record_factory)
    _installed = True
