"""The languages the bot speaks: gettext catalogues (Babel), language resolution, dates.

Everything a customer or an owner reads in Telegram comes from the ``bot`` catalogue in
``webapp/translations/<language>/LC_MESSAGES/bot.po`` (``make translations`` extracts, updates
and compiles them). The dashboard's strings are marked in the ``dashboard`` domain and stay
English for now.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "bot"
DASHBOARD_DOMAIN = "dashboard"
DEFAULT_LANGUAGE = "en"
# Each language's name in itself: the owner picks from these.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ru": "Русский",
    "es": "Español",
    "pt_BR": "Português (Brasil)",
    "uk": "Українська",
}
# Telegram's language_code is an IETF tag ("pt-br", "en-US", "uk"); the primary subtag is enough
# for all but Portuguese, where Brazilian is the variant we have.
_BY_PRIMARY = {"en": "en", "ru": "ru", "es": "es", "pt": "pt_BR", "uk": "uk"}
# Babel's English is American ("Feb 26, 2027"); the product writes dates day first.
_DATE_LOCALES = {"en": "en_GB"}


def supported(language: str | None) -> str | None:
    """The catalogue language for a Telegram ``language_code`` or a stored choice, or ``None``."""
    if not language:
        return None
    tag = language.strip().replace("-", "_")
    if tag in LANGUAGES:
        return tag
    return _BY_PRIMARY.get(tag.split("_", 1)[0].lower())


def telegram_code(language: str) -> str:
    """The two-letter ISO 639-1 code Telegram matches users' languages by (``pt_BR`` → ``pt``)."""
    return language.split("_", 1)[0].lower()


def resolve(telegram_language: str | None, project_default: str | None = None) -> str:
    """The customer's language: Telegram's ``language_code`` when we speak it, else the
    project's default, else English."""
    return supported(telegram_language) or supported(project_default) or DEFAULT_LANGUAGE


def dashboard_locale() -> str:
    """The dashboard's language: English until its catalogues exist."""
    return DEFAULT_LANGUAGE


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language`` (English, the source language, if it has none)."""
    lang = supported(language) or DEFAULT_LANGUAGE
    return Translations.load(str(TRANSLATIONS_DIR), [lang], domain=DOMAIN)


def N_(message: str) -> str:
    """Mark ``message`` for the bot catalogue where it is written; translate it later with
    ``gettext`` (e.g. a domain refusal the bot words in the owner's language)."""
    return message


def D_(message: str) -> str:
    """Mark ``message`` for the dashboard catalogue where it is written (outside a view or
    template, e.g. a label kept in the domain); the dashboard translates it where it shows it."""
    return message


class Worded(str):
    """English the domain wrote for an owner from a message of the dashboard catalogue and its
    values: a plain ``str`` everywhere (logs, audit details, tests), which the dashboard words
    again in its own language (``webapp.dashboard.rendering.domain_message``).

    ``Worded(D_("Use at most %(num)s characters."), num=100)``; plurals with ``ND_``.
    """

    template: str
    plural: str | None
    num: int | None
    params: dict

    def __new__(cls, template: str, **params):
        return cls.made(template, None, None, params)

    @classmethod
    def made(cls, template: str, plural: str | None, num: int | None, params: dict):
        chosen = template if plural is None or num == 1 else plural
        text = super().__new__(cls, chosen % params if params else chosen)
        text.template, text.plural, text.num, text.params = template, plural, num, params
        return text


def ND_(singular: str, plural: str, num: int, **params) -> Worded:
    """The plural twin of ``D_`` + ``Worded``: English by ``num``, ``%(num)s`` in both forms."""
    return Worded.made(singular, plural, num, {"num": num, **params})


def joined_names(names: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C`` (worded for the dashboard)."""
    if len(names) == 1:
        return names[0]
    return Worded(D_("%(names)s and %(last)s"), names=", ".join(names[:-1]), last=names[-1])


def gettext(language: str, message: str, **values) -> str:
    """``message`` in ``language``, with ``values`` put in (whole numbers written its way)."""
    text = translations(language).gettext(message)
    return text % _localised(values, language) if values else text


def ngettext(language: str, singular: str, plural: str, num: int, **values) -> str:
    """``num`` picks the plural form (``1 день / 2 дня / 5 дней``) and is ``%(num)s`` in it."""
    text = translations(language).ngettext(singular, plural, num)
    return text % _localised({"num": num, **values}, language)


def _localised(values: dict, language: str) -> dict:
    return {
        key: format_number(value, language)
        if isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in values.items()
    }


def format_number(number: int, language: str) -> str:
    return format_decimal(number, locale=_locale(language))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_moment(moment: datetime, language: str = DEFAULT_LANGUAGE, timezone: str | None = None):
    """``26 Feb 2027, 14:05 (UTC)`` in the language, at the wall clock of ``timezone``, which is
    named so nobody has to guess whose 14:05 it is."""
    tz = zone(timezone)
    local = moment.astimezone(tz)
    locale = _locale(language)
    day = format_date(local, "medium", locale=locale)
    time = format_time(local, "HH:mm", locale=locale)
    return f"{day}, {time} ({tz.key})"


@functools.cache
def _locale(language: str) -> Locale:
    lang = supported(language) or DEFAULT_LANGUAGE
    return Locale.parse(_DATE_LOCALES.get(lang, lang))
