"""What the customer reads when access nears its end, ends, or is withdrawn, in their language.

Messages go out with HTML parse mode, so everything interpolated is escaped here. ``lang`` is the
customer's language (``customers.customer_language``), ``tz`` the project's time zone, and
``custom`` the owner's own wording for that language (``owner_texts``), checked when it was saved.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from webapp import i18n
from webapp.domain import owner_texts
from webapp.i18n import gettext, ngettext

# Closer to the end than this, "ends tomorrow" would be wrong: a retried reminder says the hours.
_TOMORROW_FROM = timedelta(hours=18)


def format_moment(moment: datetime, lang: str = "en", tz: str | None = None) -> str:
    """26 Feb 2027, 14:05 (UTC)"""
    return i18n.format_moment(moment, lang, tz)


def access_name(project_name: str, plan_name: str) -> str:
    """'Gold Club, 3 months' — the name the customer saw when activating."""
    return f"{project_name}, {plan_name}"


def _join(titles: Sequence[str], lang: str) -> str:
    quoted = [f"<b>{escape(t)}</b>" for t in titles]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " " + gettext(lang, "and") + " " + quoted[-1]


def reminder_text(
    project_name: str,
    plan_name: str,
    ends_at: datetime,
    now: datetime,
    renewal_text: str | None,
    lang: str = "en",
    tz: str | None = None,
    custom: str | None = None,
    first_name: str | None = None,
) -> str:
    """The renewal reminder, sent about a day before ``ends_at``.

    The renewal line is the owner's template for the language (``custom``) when there is one,
    else the plan's renewal text, else the bot's own.
    """
    left = ends_at - now
    name = escape(access_name(project_name, plan_name))
    ends = escape(format_moment(ends_at, lang, tz))
    if left >= _TOMORROW_FROM:
        text = gettext(
            lang, "⏰ Your access to <b>%(plan)s</b> ends tomorrow, <b>%(ends)s</b>.",
            plan=name, ends=ends,
        )
    else:
        hours = max(1, round(left.total_seconds() / 3600))
        text = ngettext(
            lang,
            "⏰ Your access to <b>%(plan)s</b> ends in about %(num)s hour, <b>%(ends)s</b>.",
            "⏰ Your access to <b>%(plan)s</b> ends in about %(num)s hours, <b>%(ends)s</b>.",
            hours, plan=name, ends=ends,
        )
    if custom:
        line = owner_texts.render(
            custom,
            plan=access_name(project_name, plan_name),
            project=project_name,
            ends=format_moment(ends_at, lang, tz),
            name=first_name or "",
        )
        return f"{text}\n{line}"
    renewal = (renewal_text or "").strip()
    if renewal:
        return f"{text}\n" + gettext(lang, "To keep it: %(renewal)s", renewal=escape(renewal))
    return f"{text}\n" + gettext(
        lang, "To keep it, ask for a new access code and send it to this bot."
    )


def end_text(
    project_name: str,
    plan_name: str,
    reason: str,
    removed: Sequence[str],
    kept: Sequence[str] = (),
    renewal_text: str | None = None,
    lang: str = "en",
    custom: str | None = None,
    first_name: str | None = None,
    contact: str | None = None,
) -> str:
    """The message at the end of access (``reason`` expired) or after a rollback (rolled_back).

    ``removed`` are the titles of the channels and groups the customer was removed from; ``kept``
    those another subscription still opens. ``custom`` (the owner's end-of-access text) replaces
    the closing lines of an expiry; ``contact`` is named after a rollback.
    """
    name = f"<b>{escape(access_name(project_name, plan_name))}</b>"
    rolled_back = reason == "rolled_back"
    if rolled_back and removed:
        head = gettext(
            lang,
            "Your access to %(plan)s was withdrawn by the owner: the access code was cancelled, "
            "and you have been removed from %(chats)s.",
            plan=name, chats=_join(removed, lang),
        )
    elif rolled_back:
        head = gettext(
            lang,
            "Your access to %(plan)s was withdrawn by the owner: the access code was cancelled.",
            plan=name,
        )
    elif removed:
        head = gettext(
            lang, "Your access to %(plan)s has ended, and you have been removed from %(chats)s.",
            plan=name, chats=_join(removed, lang),
        )
    else:
        head = gettext(lang, "Your access to %(plan)s has ended.", plan=name)
    lines = [head]
    if kept:
        lines.append(gettext(
            lang, "You keep %(chats)s through your other subscription.", chats=_join(kept, lang)
        ))
    if rolled_back:
        if contact:
            lines.append(gettext(
                lang, "If you think this is a mistake, please contact the owner: %(contact)s",
                contact=contact,
            ))
        else:
            lines.append(gettext(lang, "If you think this is a mistake, please contact the owner."))
    elif custom:
        lines.append(owner_texts.render(
            custom,
            plan=access_name(project_name, plan_name),
            project=project_name,
            name=first_name or "",
        ))
    else:
        renewal = (renewal_text or "").strip()
        if renewal:
            lines.append(gettext(lang, "To come back: %(renewal)s", renewal=escape(renewal)))
        lines.append(gettext(lang, "Thank you for being a member!"))
    return "\n".join(lines)
