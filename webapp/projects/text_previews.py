"""The customer's messages as the bot would send them, for the owner's texts page.

The same text functions the bot and the jobs call (``bot.texts``, ``webapp.domain.notices``), fed
with sample values, so the preview is exactly what a customer reads; shown through Telegram's
HTML rules (``telegram_html.preview``).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from markupsafe import Markup

from bot import texts
from webapp.dashboard.rendering import domain_message
from webapp.domain import notices, owner_texts, telegram_html
from webapp.domain.errors import InvalidInput

SAMPLE_NAME = "Ann"


@dataclass
class Preview:
    key: str
    html: Markup | None = None
    buttons: list[str] = field(default_factory=list)
    error: str | None = None


def previews(project, lang: str, templates: dict[str, str], now: datetime) -> dict[str, Preview]:
    """One preview per kind of text; a template that would be refused shows why instead."""
    plans = [p for p in project.plans if p.archived_at is None]
    plan_name = plans[0].name if plans else "3 months"
    titles = [r.title for r in (plans[0].resources if plans else [])] or [f"{project.name} Channel"]
    ends = now + timedelta(days=30)
    tz = project.timezone
    result = {}
    for key in owner_texts.KINDS:
        raw = (templates.get(key) or "").strip()
        try:
            custom = owner_texts.check_template(key, raw) if raw else None
        except InvalidInput as exc:
            result[key] = Preview(key, error=domain_message(exc))
            continue
        buttons: list[str] = []
        if key == "welcome":
            text = texts.welcome(project.name, True, lang, custom, SAMPLE_NAME)
            buttons = [p.name for p in plans] or [plan_name]
        elif key == "confirmation":
            text = texts.activated(
                project.name, plan_name, ends, False, lang, tz, custom, SAMPLE_NAME
            )
            text += "\n\n" + texts.join_hint(True, [], lang)
            buttons = [texts.join_button(t, lang) for t in titles]
        elif key == "renewal":
            text = notices.reminder_text(
                project.name, plan_name, ends, ends - timedelta(hours=23),
                plans[0].renewal_text if plans else None, lang, tz, custom, SAMPLE_NAME,
            )
        elif key == "end":
            text = notices.end_text(
                project.name, plan_name, "expired", titles, lang=lang, custom=custom,
                first_name=SAMPLE_NAME,
            )
        else:
            contact = owner_texts.contact({"contact": custom} if custom else {}, project)
            text = texts.code_used_up(lang, contact)
        result[key] = Preview(key, telegram_html.preview(text), buttons)
    return result
