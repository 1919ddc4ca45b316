"""Linking an owner's Telegram account through a one-time deep link to one of their bots.

The dashboard issues ``owner_<random>`` and shows ``https://t.me/<bot>?start=owner_<random>``;
the bot, seeing ``/start owner_…``, calls ``link_telegram_account``. The prefix keeps these
payloads apart from access codes (whose alphabet has no lowercase letters or underscores).
A token works for ``LINK_LIFETIME`` after it is made: a link copied somewhere by mistake does
not stay a way into the owner's notifications forever.
"""

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.domain.errors import InvalidInput, NotFound
from webapp.i18n import D_
from webapp.models import Owner, Project

TOKEN_PREFIX = "owner_"
# token_urlsafe(24): 32 characters of A-Z a-z 0-9 _ - (192 bits); with the prefix 38 ≤ 64.
TOKEN_PATTERN = re.compile(r"^owner_[A-Za-z0-9_-]{32}$")
LINK_LIFETIME = timedelta(hours=1)


class OwnerLinkExpired(NotFound):
    """The token was right but is older than ``LINK_LIFETIME`` (callers may say so)."""


def is_owner_link_token(payload: str) -> bool:
    return bool(TOKEN_PATTERN.match(payload or ""))


def issue_link_token(session: Session, owner: Owner, now: datetime) -> str:
    """A fresh one-time token for ``owner``, good for ``LINK_LIFETIME``; any earlier one stops
    working."""
    owner.telegram_link_token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    owner.telegram_link_issued_at = now
    session.flush()
    return owner.telegram_link_token


def link_expires_at(owner: Owner) -> datetime | None:
    """When the owner's link token stops working.

    ``None`` without a token, or for a token made before issue times were kept (it counts as
    expired: ``link_is_live`` is false).
    """
    if owner.telegram_link_token is None or owner.telegram_link_issued_at is None:
        return None
    return owner.telegram_link_issued_at + LINK_LIFETIME


def link_is_live(owner: Owner, now: datetime) -> bool:
    """Whether the owner's link token would still be taken at ``now``."""
    expires_at = link_expires_at(owner)
    return expires_at is not None and now < expires_at


def owner_deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


def link_telegram_account(
    session: Session,
    token: str,
    telegram_user_id: int,
    telegram_username: str | None,
    now: datetime,
    *,
    via_project_id: int,
) -> Owner:
    """Bind the Telegram account that opened the deep link to the owner who issued ``token``.

    Only through one of that owner's own bots (``via_project_id`` is the bot's project): another
    owner's bot is refused like an unknown token, so it learns nothing (not even the e-mail).

    The token is used up. A Telegram account linked to another owner moves to this one (the
    person proved access to both by opening a link only this owner's dashboard showed). A token
    older than ``LINK_LIFETIME`` is refused with ``OwnerLinkExpired`` and changes nothing.
    """
    if not is_owner_link_token(token):
        raise NotFound("owner link token")
    owner = session.scalars(select(Owner).where(Owner.telegram_link_token == token)).first()
    if owner is None:
        raise NotFound("owner link token")
    through = session.get(Project, via_project_id)
    if through is None or through.owner_id != owner.id or through.deleted_at is not None:
        raise NotFound("owner link token")
    if not link_is_live(owner, now):
        raise OwnerLinkExpired("owner link token expired")
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
    owner.telegram_link_issued_at = None
    session.flush()
    return owner


def unlink_telegram_account(session: Session, owner: Owner) -> None:
    """Forget the owner's Telegram account and any link token not used yet."""
    if owner.telegram_user_id is None and owner.telegram_link_token is None:
        raise InvalidInput("telegram", D_("No Telegram account is linked."))
    owner.telegram_user_id = None
    owner.telegram_username = None
    owner.telegram_link_token = None
    owner.telegram_link_issued_at = None
    session.flush()
