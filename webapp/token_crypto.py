"""Bot tokens encrypted at rest (Fernet: AES-128-CBC with an HMAC, from ``cryptography``).

``TOKEN_ENCRYPTION_KEYS`` is a comma-separated list: the first key encrypts, every key decrypts,
so a new key goes first, ``flask tokens rotate`` re-encrypts every token with it, and then the
old key can be dropped. A key is a Fernet key (url-safe base64 of 32 bytes) or 64 hex digits
(what Heroku's ``"generator": "secret"`` makes).
"""

import base64
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
_fernet: MultiFernet | None = None


class TokenKeyError(RuntimeError):
    """The keys setting is unusable, or no key opens a stored token."""


def _fernet_key(raw: str) -> Fernet:
    raw = raw.strip()
    if _HEX_KEY.match(raw):
        raw = base64.urlsafe_b64encode(bytes.fromhex(raw)).decode()
    try:
        return Fernet(raw)
    except ValueError:
        raise TokenKeyError(
            "TOKEN_ENCRYPTION_KEYS holds a key that is neither a Fernet key nor 64 hex digits"
        ) from None


def parse_keys(keys: str) -> MultiFernet:
    parts = [part for part in (keys or "").split(",") if part.strip()]
    if not parts:
        raise TokenKeyError("TOKEN_ENCRYPTION_KEYS is empty")
    return MultiFernet([_fernet_key(part) for part in parts])


def configure(keys: str) -> None:
    global _fernet
    _fernet = parse_keys(keys)


def _current() -> MultiFernet:
    if _fernet is None:
        raise TokenKeyError("token encryption is not configured (create_app does it)")
    return _fernet


def encrypt(token: str) -> str:
    return _current().encrypt(token.encode()).decode()


def decrypt(stored: str) -> str:
    try:
        return _current().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise TokenKeyError(
            "no key in TOKEN_ENCRYPTION_KEYS opens a stored bot token (was a key dropped "
            "before `flask tokens rotate`?)"
        ) from None


def rotate(stored: str) -> str:
    """``stored`` re-encrypted with the first key."""
    return _current().rotate(stored.encode()).decode()


def is_encrypted(stored: str) -> bool:
    # Every Fernet token starts with version byte 0x80, "gA" in base64; a bot token starts
    # with digits.
    return stored.startswith("gAAAAA")
