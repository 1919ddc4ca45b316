"""The CSV of a bulk generation, made to open cleanly in Excel, Numbers and LibreOffice."""

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime

from webapp.domain.codes import activation_link
from webapp.models import AccessCode, Customer

HEADER = ["Code", "Activation link", "Plan", "Max activations", "Expires (UTC)"]
STATUS_HEADER = [*HEADER, "Status", "Activations", "Activated by"]
# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def format_expiry(expires_at: datetime | None) -> str:
    # Empty, not "never": a date column a spreadsheet can sort and filter.
    return expires_at.strftime("%Y-%m-%d %H:%M") if expires_at else ""


def codes_csv(codes: Iterable[AccessCode], bot_username: str, plan_name: str) -> bytes:
    """UTF-8 with a BOM (Excel's cue for UTF-8), CRLF rows, every text cell quoted when needed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    plan_cell = safe_cell(plan_name)
    for code in codes:
        writer.writerow(
            [
                code.code,
                activation_link(bot_username, code.code),
                plan_cell,
                code.max_activations,
                format_expiry(code.expires_at),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def status_csv(
    codes: Iterable[AccessCode],
    bot_username: str,
    plan_name: str,
    activated_by: dict[int, list[Customer]],
    now: datetime,
) -> bytes:
    """A batch downloaded again: each code with its status and who activated it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATUS_HEADER)
    plan_cell = safe_cell(plan_name)
    for code in codes:
        people = activated_by.get(code.id, [])
        writer.writerow(
            [
                code.code,
                activation_link(bot_username, code.code),
                plan_cell,
                code.max_activations,
                format_expiry(code.expires_at),
                code.status(now),
                code.activation_count,
                safe_cell("; ".join(_who(c) for c in people)),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def status_csv_multi(
    codes: Iterable[AccessCode], activated_by: dict[int, list[Customer]], now: datetime
) -> bytes:
    """Codes picked in the list (of any plans): each with its own plan, status and people."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATUS_HEADER)
    for code in codes:
        people = activated_by.get(code.id, [])
        writer.writerow(
            [
                code.code,
                activation_link(code.plan.project.bot_username, code.code),
                safe_cell(code.plan.name),
                code.max_activations,
                format_expiry(code.expires_at),
                code.status(now),
                code.activation_count,
                safe_cell("; ".join(_who(c) for c in people)),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _who(customer: Customer) -> str:
    name = customer.display_name
    handle = f"@{customer.username}" if customer.username else ""
    parts = [name] if name != handle else []
    if handle:
        parts.append(handle)
    return f"{' '.join(parts)} (id {customer.telegram_user_id})"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "codes"


def csv_filename(project_name: str, plan_name: str, count: int) -> str:
    project, plan = slug(project_name), slug(plan_name)
    name = plan if plan == project or plan.startswith(project + "-") else f"{project}-{plan}"
    return f"{name}-{count}-codes.csv"
