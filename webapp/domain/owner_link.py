"""Linking an owner's Telegram account through a one-time deep link to one of their bots.

The dashboard issues ``owner_<random>`` and shows ``https://t.me/<bot>?start=owner_<random>``;
the bot, seeing ``/start owner_…``, calls ``link_telegram_account``. The prefix keeps these
payloads apart from access codes (whose alphabet has no lowercase letters or underscores).
"""

import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.domain.errors import InvalidInput, NotFound
from webapp.models import Owner

TOKEN_PREFIX = "owner_"
# token_urlsafe(24): 32 characters of A-Z a-z 0-9 _ - (192 bits); with the prefix 38 ≤ 64.
TOKEN_PATTERN = re.compile(r"^owner_[A-Za-z0-9_-]{32}$")


def is_owner_link_token(payload: str) -> bool:
    return bool(TOKEN_PATTERN.match(payload or ""))


def issue_link_token(session: Session, owner: Owner) -> str:
    """A fresh one-time token for ``owner``; any earlier one stops working."""
    owner.telegram_link_token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    session.flush()
    return owner.telegram_link_token


def owner_deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


def link_telegram_account(
    session: Session,
    token: str,
    telegram_user_id: int,
    telegram_username: str | None,
    now: datetime,
) -> Owner:
    """Bind the Telegram account that opened the deep link to the owner who issued ``token``.

    The token is used up. A Telegram account linked to another owner moves to this one (the
    person proved access to both by opening a link only this owner's dashboard showed).
    """
    if not is_owner_link_token(token):
        raise NotFound("owner link token")
    owner = session.scalars(select(Owner).where(Owner.telegram_link_token == token)).first()
    if owner is None:
        raise NotFound("owner link token")
    previous = session.scalars(
        select(Owner).where(Owner.telegram_user_id == telegram_user_id, Owner.id != owner.id)
    ).first()
    if previous is not None:
        previous.telegram_user_id = None
        previous.telegram_username = None
        session.flush()
    owner.telegram_user_id = telegram_user_id
    owner.telegram_username = telegram_username
    owner.telegram_link_token = None
    session.flush()
    return owner


def unlink_telegram_account(session: Session, owner: Owner) -> None:
    """Forget the owner's Telegram account and any link token not used yet."""
    if owner.telegram_user_id is None and owner.telegram_link_token is None:
        raise InvalidInput("telegram", "No Telegram account is linked.")
    owner.telegram_user_id = None
    owner.telegram_username = None
    owner.telegram_link_token = None
    session.flush()
