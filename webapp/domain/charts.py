"""The business over time: activations per day, active members, ends and renewals per week.

Read from ``ActivityHour`` (kept per UTC hour by database triggers), so a year of a busy
project is at most 8,760 rows whatever the number of codes; hours fall on the owner's own days
here, in their time zone. The members active before the period come from ``ActivityTotal``,
one row per project, however long the history.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from webapp.domain.errors import InvalidInput
from webapp.i18n import D_
from webapp.models import ActivityHour, ActivityTotal

PERIODS = (30, 90, 365)


@dataclass(frozen=True)
class Day:
    day: date
    activations: int
    renewals: int
    started: int
    ended: int
    active: int  # subscriptions open at the end of the day


@dataclass(frozen=True)
class Week:
    start: date  # a Monday (the first week may start before the period does)
    renewals: int
    ended: int


@dataclass(frozen=True)
class Activity:
    days: list[Day]
    timezone: str

    @property
    def weeks(self) -> list[Week]:
        totals: dict[date, list[int]] = {}
        for d in self.days:
            monday = d.day - timedelta(days=d.day.weekday())
            week = totals.setdefault(monday, [0, 0])
            week[0] += d.renewals
            week[1] += d.ended
        return [Week(start, r, e) for start, (r, e) in totals.items()]

    @property
    def total_activations(self) -> int:
        return sum(d.activations for d in self.days)


def parse_period(text: str | None) -> int:
    """30, 90 or 365 days (30 when not given); ``InvalidInput`` for anything else."""
    if not text:
        return PERIODS[0]
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days not in PERIODS:
        raise InvalidInput("days", D_("Choose 30, 90 or 365 days."))
    return days


def activity(
    session: Session, project_ids: tuple[int, ...], days: int, tz: ZoneInfo, now: datetime
) -> Activity:
    """The last ``days`` days (today included) of the projects, as the owner's calendar days."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tz)
    per_day: dict[date, list[int]] = {}
    if project_ids:
        for day, *measures in _per_day(session, project_ids, tz, start):
            into = per_day.setdefault(day, [0, 0, 0, 0])
            for i, n in enumerate(measures):
                into[i] += n or 0
    active = _open_before(session, project_ids, per_day.values())
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        activated, started, renewed, ended = per_day.get(day, (0, 0, 0, 0))
        active += started - ended
        out.append(Day(day, activated, renewed, started, ended, active))
    return Activity(out, tz.key)


def _per_day(session: Session, project_ids: tuple[int, ...], tz: ZoneInfo, start: datetime):
    """(local day, activated, started, renewed, ended) from ``start`` on (hours after now too,
    so the members' count can start from the all-time totals); PostgreSQL groups by the owner's
    day itself (a year is 366 rows, not 8,760 hours), SQLite's hours are grouped here."""
    h = ActivityHour
    where = (h.project_id.in_(project_ids), h.hour >= start)
    sums = (func.sum(h.activated), func.sum(h.started), func.sum(h.renewed), func.sum(h.ended))
    if session.get_bind().dialect.name == "postgresql":
        local_day = cast(func.timezone(tz.key, func.timezone("UTC", h.hour)), Date)
        yield from session.execute(select(local_day, *sums).where(*where).group_by(local_day))
        return
    rows = session.execute(select(h.hour, *sums).where(*where).group_by(h.hour))
    for hour, *measures in rows:
        yield hour.astimezone(tz).date(), *measures


def _open_before(session: Session, project_ids: tuple[int, ...], since) -> int:
    """Subscriptions open when the period starts: every start less every end (the all-time
    totals, one row per project), less those of the period's hours (``since``: the
    [activated, started, renewed, ended] of each day from the period's start on). An hour
    counts on the local day it begins in, so the period's hours are exactly those from its
    start."""
    if not project_ids:
        return 0
    started, ended = session.execute(
        select(
            func.coalesce(func.sum(ActivityTotal.started), 0),
            func.coalesce(func.sum(ActivityTotal.ended), 0),
        ).where(ActivityTotal.project_id.in_(project_ids))
    ).one()
    return int(started) - int(ended) - sum(d[1] - d[3] for d in since)
