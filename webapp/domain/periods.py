"""Calendar arithmetic for plan periods."""

import calendar
from datetime import datetime, timedelta


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time ``months`` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(start: datetime, unit: str, count: int | None) -> datetime | None:
    """When a period that starts at ``start`` ends; ``None`` for lifetime."""
    if unit == "lifetime":
        return None
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "month":
        return add_months(start, count)
    raise ValueError(f"unknown period unit {unit!r}")
