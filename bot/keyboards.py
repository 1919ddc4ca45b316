"""Inline keyboards. Callback data is read back by ``bot.handlers``, which trusts none of it."""

from telebot.types import InlineKeyboardButton, InlineKeyboardMarkup

PLAN_PREFIX = "plan"
NEWCODE_PREFIX = "nc"


def plans(choices: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    markup = InlineKeyboardMarkup()
    for plan_id, name in choices:
        markup.row(InlineKeyboardButton(name[:60], callback_data=f"{PLAN_PREFIX}:{plan_id}"))
    return markup


def access_code(plan_id: int) -> InlineKeyboardMarkup:
    markup = InlineKeyboardMarkup()
    markup.row(
        InlineKeyboardButton("🔑 Access code", callback_data=f"{PLAN_PREFIX}:{plan_id}:code")
    )
    return markup


def join_buttons(links: list[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    """One URL button per (resource title, invite link)."""
    if not links:
        return None
    markup = InlineKeyboardMarkup()
    for title, url in links:
        markup.row(InlineKeyboardButton(f"Join: {title}"[:60], url=url))
    return markup


def newcode(prompt) -> InlineKeyboardMarkup | None:
    if not prompt.choices:
        return None
    markup = InlineKeyboardMarkup()
    buttons = [
        InlineKeyboardButton(
            label[:60], callback_data=f"{NEWCODE_PREFIX}:{prompt.nonce}:{prompt.step}:{value}"
        )
        for value, label in prompt.choices
    ]
    per_row = 1 if prompt.step in ("project", "plan") else 3
    for i in range(0, len(buttons), per_row):
        markup.row(*buttons[i : i + per_row])
    return markup
