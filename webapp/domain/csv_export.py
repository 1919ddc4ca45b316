"""The CSV of a bulk generation, made to open cleanly in Excel, Numbers and LibreOffice."""

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime

from webapp.domain.codes import activation_link
from webapp.models import AccessCode

HEADER = ["code", "activation_link", "plan", "max_activations", "expires_at_utc"]
# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def format_expiry(expires_at: datetime | None) -> str:
    return expires_at.strftime("%Y-%m-%d %H:%M") if expires_at else "never"


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


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "codes"


def csv_filename(project_name: str, plan_name: str, count: int) -> str:
    return f"{slug(project_name)}-{slug(plan_name)}-{count}-codes.csv"
