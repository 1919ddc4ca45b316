"""Page-or-fragment rendering, time zones for templates, and what every template may call."""

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import Flask, current_app, render_template, request
from flask_babel import gettext, ngettext
from flask_login import current_user

from webapp import i18n
from webapp.i18n import D_, Worded

DATETIME_FORMAT = "%d %b %Y, %H:%M"


def is_htmx() -> bool:
    """An htmx request that wants a fragment.

    Boosted requests and history restores (the back button after ``hx-push-url`` when htmx's
    cache has lost the page) want whole pages.
    """
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    """``fragment`` for htmx, ``page`` (which includes it) otherwise; caches keep them apart."""
    body = render_template(fragment if is_htmx() else page, **context)
    return body, status, {"Vary": "HX-Request"}


@cache
def timezone_names() -> list[str]:
    return sorted(available_timezones())


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def localtime(value: datetime | None, tz: str | None = None, fmt: str = DATETIME_FORMAT) -> str:
    """An aware UTC datetime as the owner's wall-clock time (``tz`` defaults to theirs)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if tz is None:
        tz = current_user.timezone if current_user.is_authenticated else "UTC"
    try:
        return value.astimezone(zone(tz)).strftime(fmt)
    except OverflowError:
        # 9999-12-31 23:59 UTC is past datetime's range in any zone east of UTC: show it in UTC.
        return value.astimezone(UTC).strftime(fmt) + " UTC"


def has_endpoint(name: str) -> bool:
    """Whether a blueprint that may not be registered yet serves ``name`` (for the navigation)."""
    return name in current_app.view_functions


def domain_message(text) -> str:
    """What the domain wrote for an owner, in the dashboard's language: a refusal's message, a
    message it marked with ``D_``, or a ``Worded`` one with its values (worded too if they are
    ``Worded``)."""
    text = getattr(text, "message", text)
    if not isinstance(text, str):
        text = str(text)
    if not isinstance(text, Worded):
        return gettext(text) if text else text
    values = {
        name: domain_message(value) if isinstance(value, Worded) else value
        for name, value in text.params.items()
    }
    if text.plural is not None:
        values.pop("num", None)  # ngettext puts the number in itself
        return ngettext(text.template, text.plural, text.num, **values)
    return gettext(text.template, **values)


# Why a subscription ended (``Subscription.end_reason``), as the dashboard says it.
END_REASONS = {
    "expired": D_("expired"),
    "rolled_back": D_("rolled back"),
    "ended_by_owner": D_("ended by owner"),
}


def end_reason(reason: str) -> str:
    return gettext(END_REASONS[reason]) if reason in END_REASONS else reason.replace("_", " ")


def period_label(plan) -> str:
    """How long a plan's access lasts, in the dashboard's language (``Plan.period_label`` is
    the English, which a plan's name is compared with)."""
    if plan.is_lifetime:
        return gettext("lifetime")
    if plan.period_unit == "day":
        return ngettext("%(num)s day", "%(num)s days", plan.period_count)
    return ngettext("%(num)s month", "%(num)s months", plan.period_count)


def page_language() -> str:
    """The dashboard's language as an HTML ``lang`` tag (``pt-BR``, not Babel's ``pt_BR``)."""
    return i18n.dashboard_locale().replace("_", "-")


def register(app: Flask) -> None:
    app.add_template_global(page_language, "page_language")
    app.add_template_global(period_label, "period_label")
    app.add_template_filter(end_reason, "end_reason")
    app.add_template_filter(domain_message, "worded")
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(fromisoformat, "fromisoformat")
    app.add_template_global(has_endpoint, "has_endpoint")
    app.add_template_global(is_htmx, "is_htmx")


def fromisoformat(value: str | None) -> datetime | None:
    """For timestamps kept as ISO text (audit details), so they can go through ``localtime``."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
