"""Inline keyboards. Callback data is read back by ``bot.handlers``, which trusts none of it."""

from telebot.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
from webapp.i18n import gettext, ngettext

PLAN_PREFIX = "plan"
NEWCODE_PREFIX = "nc"


def plans(choices: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    markup = InlineKeyboardMarkup()
    for plan_id, name in choices:
        markup.row(InlineKeyboardButton(name[:60], callback_data=f"{PLAN_PREFIX}:{plan_id}"))
    return markup


def access_code(plan_id: int, lang: str = "en") -> InlineKeyboardMarkup:
    markup = InlineKeyboardMarkup()
    markup.row(
        InlineKeyboardButton(
            texts.access_code_button(lang), callback_data=f"{PLAN_PREFIX}:{plan_id}:code"
        )
    )
    return markup


def join_buttons(links: list[tuple[str, str]], lang: str = "en") -> InlineKeyboardMarkup | None:
    """One URL button per (resource title, invite link)."""
    if not links:
        return None
    markup = InlineKeyboardMarkup()
    for title, url in links:
        markup.row(InlineKeyboardButton(texts.join_button(title, lang)[:60], url=url))
    return markup


def _newcode_label(step: str, value: str, label: str, lang: str) -> str:
    """The owner's button in their language; project and plan names are the owner's own."""
    if step == "max" and value == "other":
        return gettext(lang, "Other…")
    if step == "expiry":
        presets = {
            "never": lambda: gettext(lang, "No"),
            "1d": lambda: ngettext(lang, "%(num)s day", "%(num)s days", 1),
            "1w": lambda: ngettext(lang, "%(num)s week", "%(num)s weeks", 1),
            "1m": lambda: ngettext(lang, "%(num)s month", "%(num)s months", 1),
            "3m": lambda: ngettext(lang, "%(num)s month", "%(num)s months", 3),
            "date": lambda: gettext(lang, "Pick a date…"),
        }
        return presets[value]() if value in presets else label
    if step == "kind":
        kinds = {"single": lambda: gettext(lang, "Single"), "bulk": lambda: gettext(lang, "Bulk…")}
        return kinds[value]() if value in kinds else label
    return label


def newcode(prompt, lang: str = "en") -> InlineKeyboardMarkup | None:
    if not prompt.choices:
        return None
    markup = InlineKeyboardMarkup()
    buttons = [
        InlineKeyboardButton(
            _newcode_label(prompt.step, value, label, lang)[:60],
            callback_data=f"{NEWCODE_PREFIX}:{prompt.nonce}:{prompt.step}:{value}",
        )
        for value, label in prompt.choices
    ]
    per_row = 1 if prompt.step in ("project", "plan") else 3
    for i in range(0, len(buttons), per_row):
        markup.row(*buttons[i : i + per_row])
    return markup
