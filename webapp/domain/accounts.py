"""Owner accounts."""

import secrets
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.domain.errors import InvalidInput
from webapp.i18n import D_, LANGUAGES
from webapp.models import Owner

MIN_PASSWORD = 10
# Compared against when the e-mail is unknown, so a wrong e-mail costs as much time as a wrong
# password and does not reveal which accounts exist.
# Made on first use: an scrypt hash at import cost every process (bot, worker) ~35 MiB and 0.1 s.
_dummy_hash: str | None = None


def _dummy_password_hash() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash(secrets.token_hex(16))
    return _dummy_hash


EMAIL_UNAVAILABLE = D_("This e-mail cannot be used for a new account. If it is yours, log in.")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    """A well-formed address by email-validator's rules (no DNS look-up: sign-up works offline).

    The hand-written pattern before it took ``olga.@example.com`` and ``olga@example..com``.
    """
    if len(email) > 254:
        return False
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def create_owner(session: Session, email: str, password: str, now: datetime) -> Owner:
    """A new owner; the password is hashed with scrypt (werkzeug's default)."""
    email = normalize_email(email)
    if not is_valid_email(email):
        raise InvalidInput("email", D_("Enter a valid e-mail address."))
    if len(password) < MIN_PASSWORD:
        raise InvalidInput.marked(
            "password", D_("Use at least %(num)s characters."), num=MIN_PASSWORD
        )
    if session.scalar(select(Owner.id).where(func.lower(Owner.email) == email)) is not None:
        # Worded so it does not confirm that the address has an account (sign-ups are throttled).
        raise InvalidInput("email", EMAIL_UNAVAILABLE)
    owner = Owner(email=email, password_hash=generate_password_hash(password), created_at=now)
    session.add(owner)
    session.flush()
    return owner


def authenticate(session: Session, email: str, password: str) -> Owner | None:
    owner = session.scalars(select(Owner).where(Owner.email == normalize_email(email))).first()
    if owner is None:
        check_password_hash(_dummy_password_hash(), password)
        return None
    return owner if check_password_hash(owner.password_hash, password) else None


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_zone_name(name: str | None) -> bool:
    """Whether ``name`` is a zone of the database the dashboard's pickers offer."""
    if (name or "").strip() not in _zone_names():
        return False
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def set_timezone(session: Session, owner: Owner, name: str) -> str:
    """Show the owner's dashboard in the IANA zone ``name``; an unknown zone changes nothing.

    Only names of the zone database count, the same list the dashboard's picker offers.
    """
    name = (name or "").strip()
    if name not in _zone_names():
        raise InvalidInput("timezone", D_("Pick a time zone from the list."))
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("timezone", D_("Pick a time zone from the list.")) from exc
    owner.timezone = name
    session.flush()
    return name


def set_owner_language(session: Session, owner: Owner, language: str) -> None:
    """The language the owner's bots write to them in (/newcode, activation notices)."""
    if language not in LANGUAGES:
        raise InvalidInput("language", D_("Pick a language from the list."))
    owner.language = language
    session.flush()


def change_password(session: Session, owner: Owner, current: str, new: str, repeat: str) -> None:
    """Replace the owner's password; a wrong current password or an unusable new one changes
    nothing (``InvalidInput`` names the field)."""
    current, new, repeat = current or "", new or "", repeat or ""
    if not check_password_hash(owner.password_hash, current):
        raise InvalidInput("current_password", D_("This is not your current password."))
    if len(new) < MIN_PASSWORD:
        raise InvalidInput.marked(
            "new_password", D_("Use at least %(num)s characters."), num=MIN_PASSWORD
        )
    if new != repeat:
        raise InvalidInput("repeat_password", D_("The two new passwords differ."))
    if new == current:
        raise InvalidInput("new_password", D_("Choose a password different from the current one."))
    owner.password_hash = generate_password_hash(new)
    session.flush()
