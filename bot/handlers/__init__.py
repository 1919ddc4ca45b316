"""The membership bot's handlers, one module per conversation; ``bot.dispatch`` routes to them.

Every update is one unit of work: its own app context and session (``ProjectHandlers.unit``). The
database is committed before any Bot API call, so a failing or slow Telegram never loses an
activation, and a crash after the commit at worst re-delivers the update, which the domain answers
idempotently. Nothing raises out of a handler: errors are logged and the update is done.

- ``project``     what every conversation shares: the unit of work, replies, the bot's voice
- ``activation``  a customer's code: ``/start <code>``, the typed code, the confirmation
- ``newcode``     the owner's ``/newcode`` wizard
- ``owner_link``  an owner linking their Telegram account (``/start`` with a link token)
- ``help``        ``/start`` alone, ``/help``, ``/cancel``, and what the bot does not understand
- ``members``     customers joining and leaving the resources, join requests
- ``bot_chats``   the bot's own place in chats: admin rights, blocked, groups upgraded

The owner's ``/code`` command and daily digest are in ``bot.owner_codes``.
"""

from bot.handlers.project import (
    ALLOWED_UPDATES,
    UNAVAILABLE,
    ProjectHandlers,
    ServiceUnavailable,
    Voice,
    telegram_user,
)

__all__ = [
    "ALLOWED_UPDATES",
    "UNAVAILABLE",
    "ProjectHandlers",
    "ServiceUnavailable",
    "Voice",
    "telegram_user",
]
