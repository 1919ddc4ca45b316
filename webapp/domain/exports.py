"""CSV exports an accountant can open: codes, members, activations over a date range.

Written like the bulk CSV (``csv_export``): UTF-8 with a BOM, CRLF rows, formula-looking cells
defused, a header row in words. Rows are produced lazily, so a million codes stream out in
keyset pages instead of being held in memory. Times are the owner's wall-clock times, and the
header says in which time zone.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from webapp.domain import code_queries
from webapp.domain.codes import activation_link
from webapp.domain.csv_export import safe_cell
from webapp.domain.errors import InvalidInput
from webapp.i18n import D_
from webapp.models import AccessCode, Activation, Customer, Plan, Project, Subscription

EXPORT_PAGE = 1000
# The first page is small, so the download starts at once: 1,000 rows of objects take tens of
# milliseconds to load, 50 a few.
FIRST_PAGE = 50
MAX_RANGE_DAYS = 366 * 5
TIME_FORMAT = "%Y-%m-%d %H:%M"


def csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """The CSV as chunks of bytes: the BOM and header first, then one chunk per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def take() -> bytes:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text.encode("utf-8")

    writer.writerow([safe_cell(h) for h in header])
    yield b"\xef\xbb\xbf" + take()
    for row in rows:
        writer.writerow([safe_cell(c) if isinstance(c, str) else c for c in row])
        yield take()


def _when(moment: datetime | None, tz: ZoneInfo, empty: str = "") -> str:
    return moment.astimezone(tz).strftime(TIME_FORMAT) if moment else empty


# -- Codes -------------------------------------------------------------------------------------

CODE_HEADER = [
    "Code",
    "Activation link",
    "Project",
    "Plan",
    "Status",
    "Activations",
    "Max activations",
    "Expires ({tz})",
    "Note",
    "Created ({tz})",
]


def code_rows(
    session: Session,
    flt: code_queries.CodeFilter,
    projects: dict[int, Project],
    tz: ZoneInfo,
    now: datetime,
) -> Iterator[list]:
    """Every code the list's filter matches, newest first, read a keyset page at a time."""
    after = None
    while True:
        # The projects come first, by themselves, into the session's identity map: the page's
        # joined loads then find them instead of loading each afresh in the middle of a row
        # (where webapp.sandbox's load hook may not read the project).
        projects = {
            p.id: p for p in session.scalars(select(Project).where(Project.id.in_(tuple(projects))))
        }
        limit = FIRST_PAGE if after is None else EXPORT_PAGE
        page = code_queries.list_codes(session, flt, now, after=after, limit=limit)
        for code in page.codes:
            project = projects[code.project_id]
            yield [
                code.code,
                activation_link(project.bot_username, code.code),
                project.name,
                code.plan.name,
                code.status(now),
                code.activation_count,
                code.max_activations,
                _when(code.expires_at, tz, "never"),
                code.note or "",
                _when(code.created_at, tz),
            ]
        if page.older is None:
            return
        after = page.older
        session.expunge_all()  # a million codes must not pile up in the identity map


# -- Members -----------------------------------------------------------------------------------

MEMBER_HEADER = [
    "Name",
    "Username",
    "Telegram user id",
    "Project",
    "Plan",
    "Status",
    "Started ({tz})",
    "Access until ({tz})",
    "Ended ({tz})",
    "How it ended",
]
END_REASONS = {"expired": "expired", "rolled_back": "rolled back"}


def _status(sub: Subscription, now: datetime) -> str:
    return "active" if sub.is_active(now) else "ended"


def member_rows(
    session: Session, projects: dict[int, Project], tz: ZoneInfo, now: datetime
) -> Iterator[list]:
    """Every subscription of the projects (one row per customer and plan), newest first."""
    last_id = None
    while True:
        limit = FIRST_PAGE if last_id is None else EXPORT_PAGE
        query = (
            select(Subscription)
            .where(Subscription.project_id.in_(tuple(projects)))
            .options(joinedload(Subscription.customer), joinedload(Subscription.plan))
            .order_by(Subscription.id.desc())
            .limit(limit)
        )
        if last_id is not None:
            query = query.where(Subscription.id < last_id)
        subs = session.scalars(query).all()
        for sub in subs:
            customer = sub.customer
            yield [
                customer.display_name,
                f"@{customer.username}" if customer.username else "",
                customer.telegram_user_id,
                projects[sub.project_id].name,
                sub.plan.name,
                _status(sub, now),
                _when(sub.started_at, tz),
                _when(sub.ends_at, tz, "lifetime"),
                _when(sub.ended_at, tz),
                END_REASONS.get(sub.end_reason or "", sub.end_reason or ""),
            ]
        if len(subs) < limit:
            return
        last_id = subs[-1].id
        session.expunge_all()


# -- Activations over a date range -------------------------------------------------------------

ACTIVATION_HEADER = [
    "Activated ({tz})",
    "Name",
    "Username",
    "Telegram user id",
    "Code",
    "Project",
    "Plan",
    "New or renewal",
    "Access until ({tz})",
    "How it ended",
]


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(), tz)
        return start, datetime.combine(self.last + timedelta(days=1), time(), tz)


def parse_range(first: str | None, last: str | None, today: date) -> DateRange:
    """A range of the owner's calendar days, both ends included (YYYY-MM-DD); the last 30 days
    when neither is given. ``InvalidInput`` names the field that is wrong."""
    if not first and not last:
        return DateRange(today - timedelta(days=29), today)
    days = {}
    for name, text in (("from", first), ("to", last)):
        try:
            days[name] = date.fromisoformat((text or "").strip())
        except ValueError:
            raise InvalidInput(name, D_("Enter a date as YYYY-MM-DD, e.g. 2026-11-01.")) from None
    if days["to"] < days["from"]:
        raise InvalidInput("to", D_("The last day comes before the first."))
    if (days["to"] - days["from"]).days > MAX_RANGE_DAYS:
        raise InvalidInput("to", D_("Choose at most five years at a time."))
    return DateRange(days["from"], days["to"])


def _how_it_ended(activation: Activation, now: datetime) -> str:
    sub = activation.subscription
    if sub.ended_at is not None:
        return END_REASONS.get(sub.end_reason or "", sub.end_reason or "ended")
    if sub.ends_at is not None and sub.ends_at <= now:
        return "expired"
    if activation.ends_after is not None and sub.ends_at != activation.ends_after:
        return "active, renewed since"
    return "active"


def activation_rows(
    session: Session,
    projects: dict[int, Project],
    span: DateRange,
    tz: ZoneInfo,
    now: datetime,
) -> Iterator[list]:
    """Each activation of the projects in the owner's days ``span``, oldest first (rolled back
    codes' activations are gone with their rollback)."""
    start, end = span.bounds(tz)
    for project_id, project in projects.items():
        cursor = None
        while True:
            limit = FIRST_PAGE if cursor is None else EXPORT_PAGE
            query = (
                select(Activation)
                .where(
                    Activation.project_id == project_id,
                    Activation.activated_at >= start,
                    Activation.activated_at < end,
                )
                .options(
                    joinedload(Activation.customer),
                    joinedload(Activation.subscription),
                    joinedload(Activation.code).joinedload(AccessCode.plan),
                )
                .order_by(Activation.activated_at, Activation.id)
                .limit(limit)
            )
            if cursor is not None:
                at, last_id = cursor
                query = query.where(
                    (Activation.activated_at > at)
                    | ((Activation.activated_at == at) & (Activation.id > last_id))
                )
            batch = session.scalars(query).all()
            for a in batch:
                customer: Customer = a.customer
                plan: Plan = a.code.plan
                yield [
                    _when(a.activated_at, tz),
                    customer.display_name,
                    f"@{customer.username}" if customer.username else "",
                    customer.telegram_user_id,
                    a.code.code,
                    project.name,
                    plan.name,
                    "new" if a.created_subscription else "renewal",
                    _when(a.ends_after, tz, "lifetime"),
                    _how_it_ended(a, now),
                ]
            if len(batch) < limit:
                break
            cursor = (batch[-1].activated_at, batch[-1].id)
            session.expunge_all()


def header(columns: list[str], tz: ZoneInfo) -> list[str]:
    return [c.format(tz=tz.key) for c in columns]
