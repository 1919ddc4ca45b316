"""Bulk generation: batches of 500 codes with their CSV, on an empty and on a full code table.

Each batch is one unit of work as the dashboard does it: ``create_codes`` (validation, the
collision check, the inserts, the audit row), ``codes_csv`` of the new codes, commit.

    python -m bench.bulk [--quick] [--table 1000000] [--batches 20] [--size 500]
"""

from __future__ import annotations

import statistics

from bench import (
    Row,
    Stopwatch,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    load_average,
    ms,
    parse_args,
    report,
    run_cli,
    seed_codes,
    seed_project,
)


def _args(parser):
    parser.add_argument("--table", type=int, default=1_000_000, help="codes already in the table")
    parser.add_argument("--batches", type=int, default=20, help="batches in the timed series")
    parser.add_argument("--size", type=int, default=500, help="codes per batch")
    parser.add_argument("--repeat", type=int, default=10, help="single batches timed (empty table)")


def one_batch(app, seeded, size: int, now) -> tuple[float, int, int]:
    """Generate one batch and its CSV: (seconds, codes made, CSV rows)."""
    from webapp.domain.codes import CodeRequest, create_codes
    from webapp.domain.csv_export import codes_csv
    from webapp.extensions import db

    with Stopwatch() as watch, app.app_context():
        req = CodeRequest(seeded.plan_id, 1, None, count=size)
        _, codes = create_codes(
            db.session, seeded.project_id, req, owner_id=seeded.owner_id, now=now
        )
        # Built before the commit, as the bot does: after it every code would be expired and
        # reloaded one SELECT at a time (500 queries; the dashboard re-reads a batch in one).
        data = codes_csv(codes, seeded.bot_username, seeded.plan_name)
        db.session.commit()
        db.session.remove()
    return watch.seconds, len(codes), data.count(b"\r\n") - 1


def code_count(app) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import AccessCode

    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(AccessCode))
        db.session.remove()
    return n


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    if args.quick:
        args.table, args.batches, args.size, args.repeat = 2_000, 2, 50, 2
    load_before = load_average()
    now = bench_now()
    app = bench_app(database_url())
    fresh_database(app)
    from webapp.extensions import db

    with app.app_context():
        seeded = seed_project(db.session, now)
        db.session.commit()
        db.session.remove()

    rows: list[Row] = []
    notes: list[str] = []

    # One batch at a time on a (nearly) empty table: the owner's wait for the download.
    one_batch(app, seeded, args.size, now)  # warm-up: imports, statement cache, connection
    singles = []
    good = True
    for _ in range(args.repeat):
        seconds, made, csv_rows = one_batch(app, seeded, args.size, now)
        singles.append(seconds)
        good &= made == csv_rows == args.size
    median = statistics.median(singles)
    rows.append(
        Row(
            f"one batch of {args.size} + its CSV (median of {args.repeat}, small table)",
            f"{ms(median)} (min {ms(min(singles))}, max {ms(max(singles))})",
            "< 150 ms",
            median < 0.150,
        )
    )

    # The same on a big table: the collision check and the index inserts now meet a deep index.
    seeded_s = seed_codes(app, seeded, args.table, now)
    before = code_count(app)
    notes.append(f"seeded {args.table:,} codes in {seeded_s:.1f} s (INSERT … SELECT)")
    series = []
    with Stopwatch() as total:
        for _ in range(args.batches):
            seconds, made, csv_rows = one_batch(app, seeded, args.size, now)
            series.append(seconds)
            good &= made == csv_rows == args.size
    added = code_count(app) - before
    good &= added == args.batches * args.size
    rows += [
        Row(
            f"{args.batches} batches of {args.size} + CSVs, table holding {before:,} codes",
            f"{total.seconds:.2f} s (per batch median {ms(statistics.median(series))}, "
            f"max {ms(max(series))})",
            "< 2 s in all",
            total.seconds < 2.0,
        ),
        Row(
            "every batch complete: codes made = CSV rows = size",
            f"{added:,} codes added",
            f"{args.batches * args.size:,}",
            good,
            check=True,
        ),
    ]
    with app.app_context():
        db.engine.dispose()
    report("Bulk generation", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
