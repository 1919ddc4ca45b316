"""What the customer reads when access nears its end, ends, or is withdrawn.

Messages go out with HTML parse mode, so everything interpolated is escaped here.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

# Closer to the end than this, "ends tomorrow" would be wrong: a retried reminder says the hours.
_TOMORROW_FROM = timedelta(hours=18)


def format_moment(moment: datetime) -> str:
    """26 Feb 2027, 14:05 (UTC)"""
    return moment.strftime("%-d %b %Y, %H:%M (UTC)")


def access_name(project_name: str, plan_name: str) -> str:
    """'Gold Club, 3 months' — the name the customer saw when activating."""
    return f"{project_name}, {plan_name}"


def _join(titles: Sequence[str]) -> str:
    quoted = [f"<b>{escape(t)}</b>" for t in titles]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def reminder_text(
    project_name: str,
    plan_name: str,
    ends_at: datetime,
    now: datetime,
    renewal_text: str | None,
) -> str:
    """The renewal reminder, sent about a day before ``ends_at``."""
    left = ends_at - now
    if left >= _TOMORROW_FROM:
        when = "ends tomorrow"
    else:
        hours = max(1, round(left.total_seconds() / 3600))
        when = f"ends in about {hours} hour{'s' if hours != 1 else ''}"
    text = (
        f"⏰ Your access to <b>{escape(access_name(project_name, plan_name))}</b> {when}, "
        f"<b>{format_moment(ends_at)}</b>."
    )
    renewal = (renewal_text or "").strip()
    if renewal:
        return f"{text}\nTo keep it: {escape(renewal)}"
    return f"{text}\nTo keep it, ask for a new access code and send it to this bot."


def end_text(
    project_name: str,
    plan_name: str,
    reason: str,
    removed: Sequence[str],
    kept: Sequence[str] = (),
    renewal_text: str | None = None,
) -> str:
    """The message at the end of access (``reason`` expired) or after a rollback (rolled_back).

    ``removed`` are the titles of the channels and groups the customer was removed from; ``kept``
    those another subscription still opens.
    """
    name = f"<b>{escape(access_name(project_name, plan_name))}</b>"
    if reason == "rolled_back":
        head = f"Your access to {name} was withdrawn by the owner: the access code was cancelled"
    else:
        head = f"Your access to {name} has ended"
    if removed:
        head += f", and you have been removed from {_join(removed)}."
    else:
        head += "."
    lines = [head]
    if kept:
        lines.append(f"You keep {_join(kept)} through your other subscription.")
    if reason == "rolled_back":
        lines.append("If you think this is a mistake, please contact the owner.")
    else:
        renewal = (renewal_text or "").strip()
        if renewal:
            lines.append(f"To come back: {escape(renewal)}")
        lines.append("Thank you for being a member!")
    return "\n".join(lines)
