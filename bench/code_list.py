"""The code list at scale: 1,000,000 codes in one project, read through gunicorn.

Seeds the codes in SQL, starts the web process as the Procfile does (gunicorn, 2 sync workers),
logs in as the owner, checks each page shows what it should, then loads each URL from a second
process (``wrk`` when installed, else ``bench.loadgen``) with as many connections as workers:
the first page, a page half-way down the list (keyset cursor), a status-filtered page, a
search for one code, and (the worst case) a filter that matches no code.

    python -m bench.code_list [--quick] [--codes 1000000] [--duration 10] [--tool wrk|python]
"""

from __future__ import annotations

import shutil
from urllib.parse import urlencode

from bench import (
    Row,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    load_average,
    parse_args,
    report,
    run_cli,
    seed_codes,
    seed_project,
)
from bench.memory import peak_rss_row
from bench.pages import WORKERS, Page, log_in, measure_pages, web_process


def _args(parser):
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per URL")
    parser.add_argument("--tool", choices=["wrk", "python"], default=None)


def targets(app, seeded, now) -> list[Page]:
    """Each measured page, with the code it must show."""
    from sqlalchemy import func, select

    from webapp.domain.code_queries import Cursor
    from webapp.extensions import db
    from webapp.models import AccessCode

    with app.app_context():
        order = (AccessCode.created_at.desc(), AccessCode.id.desc())
        total = db.session.scalar(select(func.count()).select_from(AccessCode))
        newest = db.session.scalars(select(AccessCode).order_by(*order).limit(1)).one()
        middle = db.session.scalars(
            select(AccessCode).order_by(*order).offset(total // 2).limit(2)
        ).all()
        used_up = db.session.scalars(
            select(AccessCode)
            .where(AccessCode.activation_count >= AccessCode.max_activations)
            .order_by(*order)
            .limit(1)
        ).one()
        sought = db.session.scalars(
            select(AccessCode).order_by(*order).offset(total * 3 // 4).limit(1)
        ).one()
        db.session.remove()
    deep = Cursor.of(middle[0]).encode()
    return [
        Page("first page", "/codes/", newest.code),
        Page(
            f"deep page (after code {total // 2:,})",
            f"/codes/?{urlencode({'after': deep})}",
            middle[1].code,
        ),
        Page("filtered page (status: used up)", "/codes/?status=used_up", used_up.code),
        Page("search for one code", f"/codes/?{urlencode({'q': sought.code})}", sought.code),
        # The worst case of a keyset walk: a filter nothing matches reads the project's whole
        # index (no code of the seed is rolled back).
        Page(
            "filter matching nothing (status: rolled back)",
            "/codes/?status=rolled_back",
            "No codes match",
        ),
    ]


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    tool = args.tool or ("wrk" if shutil.which("wrk") else "python")
    quick_requests = 0
    if args.quick:
        args.codes, tool, quick_requests = 500, "python", 5
    load_before = load_average()
    now = bench_now()
    app = bench_app(database_url())
    fresh_database(app)
    from webapp.extensions import db

    with app.app_context():
        seeded = seed_project(db.session, now, email="bench-owner@example.com")
        db.session.commit()
        db.session.remove()
    seeded_s = seed_codes(app, seeded, args.codes, now)
    pages = targets(app, seeded, now)
    with app.app_context():
        db.engine.dispose()

    notes = [
        f"seeded {args.codes:,} codes in {seeded_s:.1f} s; load tool: {tool}, "
        f"{WORKERS} connections against {WORKERS} sync gunicorn workers"
    ]
    with web_process() as (base, web):
        cookie = log_in(base, "bench-owner@example.com")
        # --quick: the load tool once is enough to keep it working.
        rows = measure_pages(
            base, cookie, pages, tool, args.duration, quick_requests, load_first_only=args.quick
        )
        rows.append(peak_rss_row("web (gunicorn)", web.pid, with_children=True))
    report("Code list at scale", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
