"""Password recovery without an e-mail server.

An owner who linked Telegram asks for a reset on the log-in page; the owner's own bot sends a
one-time link to that Telegram account. The link works for ``RESET_LIFETIME`` and once; only its
SHA-256 is stored. Owners who never linked Telegram ask the operator
(``flask owner reset-password``). Either way every session of the owner ends.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from webapp.domain.accounts import MIN_PASSWORD, normalize_email
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.sessions import end_other_sessions
from webapp.i18n import D_
from webapp.models import Owner, Project

RESET_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True)
class ResetDelivery:
    """Where the reset link goes: the owner's Telegram chat, through this bot token."""

    bot_token: str
    chat_id: int
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(session: Session, email: str, now: datetime) -> ResetDelivery | None:
    """A fresh reset token for the owner of ``email`` and how to deliver it, or None when there
    is no such owner, no linked Telegram account, or no bot to send through (the caller answers
    the same either way, so the form tells nobody which addresses have accounts)."""
    owner = session.scalars(select(Owner).where(Owner.email == normalize_email(email))).first()
    if owner is None or owner.telegram_user_id is None:
        return None
    project = session.scalars(
        select(Project)
        .where(Project.owner_id == owner.id, Project.deleted_at.is_(None))
        .order_by(Project.created_at, Project.id)
    ).first()
    if project is None:
        return None
    token = secrets.token_urlsafe(32)
    owner.password_reset_hash = _hash(token)
    owner.password_reset_expires_at = now + RESET_LIFETIME
    session.flush()
    return ResetDelivery(project.bot_token, owner.telegram_user_id, token)


def owner_for_reset(session: Session, token: str, now: datetime) -> Owner:
    """The owner whose live reset link ``token`` is; ``NotFound`` for a used, old or made-up one."""
    if not token or len(token) > 100:
        raise NotFound("reset token")
    owner = session.scalars(select(Owner).where(Owner.password_reset_hash == _hash(token))).first()
    if owner is None or owner.password_reset_expires_at is None:
        raise NotFound("reset token")
    if now >= owner.password_reset_expires_at:
        raise NotFound("reset token")
    return owner


def set_new_password(
    session: Session, owner: Owner, new: str, repeat: str, now: datetime
) -> None:
    """Give ``owner`` the password ``new`` (typed twice), use up any reset link and end every
    session: whoever knew the old password is logged out."""
    new, repeat = new or "", repeat or ""
    if len(new) < MIN_PASSWORD:
        raise InvalidInput.marked(
            "new_password", D_("Use at least %(num)s characters."), num=MIN_PASSWORD
        )
    if len(new) > 200:
        raise InvalidInput("new_password", D_("Use at most 200 characters."))
    if new != repeat:
        raise InvalidInput("repeat_password", D_("The two new passwords differ."))
    owner.password_hash = generate_password_hash(new)
    owner.password_reset_hash = None
    owner.password_reset_expires_at = None
    end_other_sessions(session, owner.id, None, now)
    session.flush()


def owner_by_email(session: Session, email: str) -> Owner:
    owner = session.scalars(
        select(Owner).where(func.lower(Owner.email) == normalize_email(email))
    ).first()
    if owner is None:
        raise NotFound("owner")
    return owner
