"""Ids and numbers from untrusted text (URLs, query strings, Telegram callback data).

Row ids are 32-bit integers on PostgreSQL: a larger number in a query is an error there ("integer
out of range"), and past 2**63 on SQLite too, so such a number is "no such row", never a query.
``str.isdigit`` is no guard either: it is true for '²', which ``int`` refuses.
"""

import re

DB_INT_MAX = 2**31 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_id(text: str | None) -> int | None:
    """``text`` as a row id (1 to DB_INT_MAX, ASCII digits only), or None."""
    if not text or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= DB_INT_MAX else None


def is_ascii_number(text: str, max_digits: int) -> bool:
    return bool(re.fullmatch(rf"[0-9]{{1,{max_digits}}}", text or ""))
