"""The business over time: activations per day, active members, ends and renewals per week.

Read from ``ActivityHour`` (kept per UTC hour by database triggers), so a year of a busy
project is at most 8,760 rows per metric whatever the number of codes; hours fall on the
owner's own days here, in their time zone.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.orm import Session

from webapp.domain.errors import InvalidInput
from webapp.i18n import D_
from webapp.models import ActivityHour

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
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if project_ids:
        for day, metric, count in _per_day(session, project_ids, tz, start, now):
            per_day[day][metric] += count
    active = _open_before(session, project_ids, start)
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        m = per_day.get(day, {})
        active += m.get("started", 0) - m.get("ended", 0)
        out.append(
            Day(
                day,
                m.get("activated", 0),
                m.get("renewed", 0),
                m.get("started", 0),
                m.get("ended", 0),
                active,
            )
        )
    return Activity(out, tz.key)


def _per_day(session: Session, project_ids: tuple[int, ...], tz: ZoneInfo, start, now):
    """(local day, metric, count) rows; PostgreSQL groups by the owner's day itself (a year is
    then 1,464 rows, not 35,000 hours), SQLite's hours are grouped here."""
    where = (
        ActivityHour.project_id.in_(project_ids),
        ActivityHour.hour >= start,
        ActivityHour.hour <= now,
    )
    total = func.sum(ActivityHour.count)
    if session.get_bind().dialect.name == "postgresql":
        local_day = cast(func.timezone(tz.key, func.timezone("UTC", ActivityHour.hour)), Date)
        yield from session.execute(
            select(local_day, ActivityHour.metric, total)
            .where(*where)
            .group_by(local_day, ActivityHour.metric)
        )
        return
    rows = session.execute(
        select(ActivityHour.hour, ActivityHour.metric, total)
        .where(*where)
        .group_by(ActivityHour.hour, ActivityHour.metric)
    )
    for hour, metric, count in rows:
        yield hour.astimezone(tz).date(), metric, count


def _open_before(session: Session, project_ids: tuple[int, ...], start: datetime) -> int:
    """Subscriptions opened before ``start`` less those ended before it. An hour counts on the
    local day it begins in, so the hours before the period are exactly those before ``start``."""
    if not project_ids:
        return 0
    signed = case(
        (ActivityHour.metric == "started", ActivityHour.count),
        (ActivityHour.metric == "ended", -ActivityHour.count),
        else_=0,
    )
    total = session.scalar(
        select(func.coalesce(func.sum(signed), 0)).where(
            ActivityHour.project_id.in_(project_ids),
            ActivityHour.hour < start,
            ActivityHour.metric.in_(("started", "ended")),
        )
    )
    return int(total or 0)
