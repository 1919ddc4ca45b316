"""Insight at scale: funnels, charts, the home page and the exports on 1,000,000 codes, and what
recording the funnel adds to the activation path.

1. Seeds 1,000,000 codes (as ``bench.code_list``), a batch of 500, 100,000 customers with a
   funnel history (opened, activated, refused, joined every chat, renewed, reminded, ended),
   the subscriptions, activations and activity-feed events of the 70,000 who activated, and
   a year of hourly
   activity, all in SQL with the tally triggers off and the tallies counted after in one pass;
   then loads each insight page through gunicorn (2 sync workers) with ``bench.pages``, as
   ``bench.code_list`` does: p95 < 100 ms (a CSV export to its first row).
2. The activation path before and after: the same domain call and commit, without the funnel
   and activity (the activation trigger disabled) and with them (``funnel.record_activation``
   and the trigger), in alternating rounds of fresh single-use codes so both see the same load.

    python -m bench.insight [--quick] [--codes 1000000] [--customers 100000] [--duration 10]
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC

from bench import (
    ROOT,
    Row,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    fresh_redis,
    is_sqlite,
    load_average,
    parse_args,
    percentile,
    report,
    run_cli,
    seed_codes,
    seed_project,
)
from bench.pages import WORKERS, Page, log_in, measure_pages, web_process


def _args(parser):
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per URL")
    parser.add_argument("--rounds", type=int, default=6, help="before/after activation rounds")
    parser.add_argument("--per-round", type=int, default=300, help="activations per round")
    parser.add_argument("--tool", choices=["wrk", "python"], default=None)


# Each customer i opened code (first + i); weights by i % 10: 7 in 10 activated, 2 refused
# (used up), 5 joined every chat, 2 renewed, 3 reminded, 2 ended.
_SEED_FUNNEL = """
INSERT INTO funnel_step (project_id, plan_id, batch_id, code_id, customer_id, step, detail, at)
SELECT :project, :plan, c.batch_id, c.id, :first_customer + s.i, f.step, f.detail,
       CAST(:now AS timestamp) - (s.i % 525600) * interval '1 minute'
FROM generate_series(0, :n - 1) AS s(i)
JOIN access_code c ON c.id = :first_code + s.i
JOIN (VALUES ('opened', '', 10), ('activated', '', 7), ('refused', 'used_up', 2),
             ('all', '', 5), ('renewed', '', 2), ('reminded', '', 3), ('ended', 'expired', 2))
     AS f(step, detail, weight) ON s.i % 10 < f.weight
"""

_SEED_HOURS = """
INSERT INTO activity_hour (project_id, hour, activated, started, renewed, ended)
SELECT :project, date_trunc('hour', CAST(:now AS timestamp)) - h * interval '1 hour',
       1 + (h * 3) % 7, 1 + (h * 2) % 7, 1 + (h * 5) % 7, 1 + h % 7
FROM generate_series(0, 366 * 24) AS h
"""

# The 7 in 10 who activated (as in _SEED_FUNNEL): a 3-month subscription each, opened by their
# code; 2 in 10 ended since.
_SEED_ACTIVATIONS = """
WITH made AS (
  INSERT INTO subscription (project_id, customer_id, plan_id, started_at, ends_at, ended_at,
                            end_reason)
  SELECT :project, :first_customer + s.i, :plan, t.at, t.at + interval '3 months',
         CASE WHEN s.i % 10 < 2
              THEN LEAST(t.at + interval '3 months', CAST(:now AS timestamp)) END,
         CASE WHEN s.i % 10 < 2 THEN 'expired' END
  FROM generate_series(0, :n - 1) AS s(i)
  CROSS JOIN LATERAL (SELECT CAST(:now AS timestamp) - (s.i % 525600) * interval '1 minute')
       AS t(at)
  WHERE s.i % 10 < 7
  RETURNING id, customer_id, started_at, ends_at
)
INSERT INTO activation (project_id, code_id, customer_id, subscription_id, activated_at,
                        ends_before, ends_after, created_subscription)
SELECT :project, :first_code + (m.customer_id - :first_customer), m.customer_id, m.id,
       m.started_at, m.started_at, m.ends_at, true
FROM made m
"""

# What each activation writes to the owner's activity feed.
_SEED_FEED = """
INSERT INTO audit_event (project_id, code_id, customer_id, action, details, created_at)
SELECT a.project_id, a.code_id, a.customer_id, 'code.activated',
       json_build_object('code', c.code, 'username', 'c' || a.customer_id), a.activated_at
FROM activation a JOIN access_code c ON c.id = a.code_id
"""

_COUNT_ACTIVATIONS = """
UPDATE access_code SET activation_count = activation_count + 1
WHERE id IN (SELECT code_id FROM activation) AND activation_count < max_activations
"""


_SEEDED_TABLES = (
    "access_code",
    "customer",
    "funnel_step",
    "funnel_tally",
    "subscription",
    "activation",
    "activity_hour",
    "activity_total",
    "code_tally",
    "audit_event",
)


def _migration(name: str):
    import importlib.util

    path = ROOT / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_history(app, seeded, now, customers: int) -> tuple[dict, float]:
    """A batch of 500, customers with funnel steps, activations and a year of hours; the ids
    the pages need."""
    from sqlalchemy import func, select, text

    from webapp.domain.codes import CodeRequest, create_codes
    from webapp.extensions import db
    from webapp.models import AccessCode, Activation, Customer, FunnelStep

    TALLY_FROM_STEPS = _migration("insight_01").TALLY_FROM_STEPS  # noqa: N806
    TOTALS_FROM_ROWS = _migration("insight_02").TOTALS_FROM_ROWS  # noqa: N806

    started = time.perf_counter()
    with app.app_context():
        batch, batch_codes = create_codes(
            db.session,
            seeded.project_id,
            CodeRequest(plan_id=seeded.plan_id, max_activations=1, expires_at=None, count=500),
            owner_id=seeded.owner_id,
            now=now,
        )
        db.session.commit()
        ids = {"batch": batch.id, "plan": seeded.plan_id}
        params = {
            "project": seeded.project_id,
            "plan": seeded.plan_id,
            "now": now.astimezone(UTC).replace(tzinfo=None),
        }
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customer (project_id, telegram_user_id, first_name, username,"
                    " created_at) SELECT :project, 10000000 + i, 'Customer ' || i, 'c' || i,"
                    " CAST(:now AS timestamp) FROM generate_series(1, :n) AS i"
                ),
                {**params, "n": customers},
            )
        first_customer = db.session.scalar(select(func.min(Customer.id)))
        # The batch's codes first (so the batch has a funnel), then codes of the big seed. In
        # one transaction the row triggers would update the same tally rows 300,000 times (each
        # update a new row version): the seed writes the rows without them and tallies them in
        # one pass, as migrations insight_01 and insight_02 do for the history they find.
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE funnel_step DISABLE TRIGGER funnel_step_tally"))
            conn.execute(text("ALTER TABLE activation DISABLE TRIGGER activation_tally"))
            segments = [
                # (first customer, first code, how many)
                (first_customer, batch_codes[0].id, len(batch_codes)),
                (
                    first_customer + len(batch_codes),
                    db.session.scalar(select(func.min(AccessCode.id))),
                    customers - len(batch_codes),
                ),
            ]
            for customer, code, n in segments:
                segment = {**params, "first_customer": customer, "first_code": code, "n": n}
                conn.execute(text(_SEED_FUNNEL), segment)
                conn.execute(text(_SEED_ACTIVATIONS), segment)
            conn.execute(text(_COUNT_ACTIVATIONS))
            conn.execute(text(_SEED_FEED))
            conn.execute(text(TALLY_FROM_STEPS))
            conn.execute(text(_SEED_HOURS), params)
            for statement in TOTALS_FROM_ROWS:
                conn.execute(text(statement))
            conn.execute(text("ALTER TABLE activation ENABLE TRIGGER activation_tally"))
            conn.execute(text("ALTER TABLE funnel_step ENABLE TRIGGER funnel_step_tally"))
        busiest = db.session.scalar(
            select(FunnelStep.code_id)
            .where(FunnelStep.batch_id == batch.id)
            .order_by(FunnelStep.code_id)
            .limit(1)
        )
        ids["code"] = busiest
        ids["steps"] = db.session.scalar(select(func.count()).select_from(FunnelStep))
        ids["activations"] = db.session.scalar(select(func.count()).select_from(Activation))
        db.session.remove()
        # As a live database would be: vacuumed (index-only scans see the visibility map) and
        # not in the middle of autovacuuming the seed while the pages are timed.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) " + ", ".join(_SEEDED_TABLES)))
    return ids, time.perf_counter() - started


def pages(ids) -> list[Page]:
    plan, batch, code = ids["plan"], ids["batch"], ids["code"]
    return [
        Page("home page", "/", "insight-charts"),
        Page("charts, 30 days", "/insight/charts?days=30", "Activations per day"),
        Page("charts, 90 days", "/insight/charts?days=90", "Activations per day"),
        Page("charts, 365 days", "/insight/charts?days=365", "Activations per day"),
        Page("plan funnel", f"/insight/funnel/plan/{plan}", "Joined every chat"),
        Page("plan: people who renewed", f"/insight/funnel/plan/{plan}/people?step=renewed", "@c"),
        Page("batch funnel (500 codes)", f"/insight/funnel/batch/{batch}", "ever opened"),
        Page("batch page", f"/codes/batches/{batch}", f"funnel-batch-{batch}"),
        Page("code funnel", f"/insight/funnel/code/{code}", "Opened the link"),
        Page("plan page", f"/plans/{plan}/edit", f"funnel-plan-{plan}"),
        # Downloads are timed to their first row (line 2, after the header): how soon the file
        # starts, not how long a million rows take.
        Page("codes CSV, every code", "/insight/codes.csv", "https://t.me/", rows=2),
        Page("members CSV", "/insight/members.csv", "@c", rows=2),
        Page("activations CSV, last 30 days", "/insight/activations.csv", "@c", rows=2),
    ]


# -- The activation path, before and after -----------------------------------------------------


def activation_overhead(app, seeded, now, rounds: int, per_round: int) -> list[Row]:
    from sqlalchemy import text

    from webapp.domain import funnel
    from webapp.domain.activation import activate_code
    from webapp.domain.codes import CodeRequest, create_codes
    from webapp.domain.customers import TelegramUser
    from webapp.extensions import db

    postgres = not is_sqlite(database_url())
    with app.app_context():
        codes = []
        for _ in range(0, rounds * 2 * per_round, 500):
            _, made = create_codes(
                db.session,
                seeded.project_id,
                CodeRequest(plan_id=seeded.plan_id, max_activations=1, expires_at=None, count=500),
                owner_id=seeded.owner_id,
                now=now,
            )
            codes.extend(c.code for c in made)
        db.session.commit()
        db.session.remove()

    # The "before" activations are left out of the activity tallies: the bench's database is
    # emptied by the next run anyway.
    def trigger(on: bool) -> None:
        if postgres:
            with app.app_context(), db.engine.begin() as conn:
                state = "ENABLE" if on else "DISABLE"
                conn.execute(text(f"ALTER TABLE activation {state} TRIGGER activation_tally"))

    times = {"before": [], "after": []}
    user_id = 50_000_000
    for r in range(rounds):
        for variant in ("before", "after") if r % 2 == 0 else ("after", "before"):
            trigger(variant == "after")
            for _ in range(per_round):
                code, user_id = codes.pop(), user_id + 1
                user = TelegramUser(id=user_id, first_name="Bench", last_name=None, username=None)
                start = time.perf_counter()
                with app.app_context():
                    result = activate_code(db.session, seeded.project_id, code, user, now)
                    if variant == "after":
                        funnel.record_activation(db.session, result, now)
                    db.session.commit()
                    db.session.remove()
                times[variant].append(time.perf_counter() - start)
    trigger(True)
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    p50 = {k: percentile(v, 50) for k, v in times.items()}
    overhead = mean["after"] / mean["before"] - 1
    median_overhead = p50["after"] / p50["before"] - 1
    n = rounds * per_round
    return [
        Row(
            f"activation without the funnel ({n:,}, sequential)",
            f"mean {mean['before'] * 1000:.2f} ms, p50 {p50['before'] * 1000:.2f} ms, "
            f"p99 {percentile(times['before'], 99) * 1000:.2f} ms",
        ),
        Row(
            f"activation with the funnel ({n:,}, sequential)",
            f"mean {mean['after'] * 1000:.2f} ms, p50 {p50['after'] * 1000:.2f} ms, "
            f"p99 {percentile(times['after'], 99) * 1000:.2f} ms",
        ),
        Row(
            "what recording the funnel and the activity adds to an activation",
            f"{overhead:+.1%} (mean), {median_overhead:+.1%} (p50)",
            "≤ 10%",
            overhead <= 0.10,
        ),
    ]


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    tool = args.tool or ("wrk" if shutil.which("wrk") else "python")
    quick_requests = 0
    if args.quick:
        args.codes, args.customers, tool, quick_requests = 2000, 1000, "python", 5
        args.rounds, args.per_round = 2, 20
    load_before = load_average()
    now = bench_now()
    app = bench_app(database_url())
    fresh_database(app)
    fresh_redis()
    from webapp.extensions import db

    with app.app_context():
        seeded = seed_project(db.session, now, email="bench-owner@example.com")
        db.session.commit()
        db.session.remove()
    seeded_s = seed_codes(app, seeded, args.codes, now)
    notes = [f"seeded {args.codes:,} codes in {seeded_s:.1f} s"]
    if is_sqlite(database_url()):
        notes.append("SQLite: the history seed is PostgreSQL SQL; pages measured without it")
        ids = {"plan": seeded.plan_id, "batch": None, "code": None, "steps": 0}
        needs_history = ("/funnel/", "/batches/", "members.csv", "activations.csv")
        measured = [p for p in pages(ids) if not any(part in p.path for part in needs_history)]
    else:
        ids, history_s = seed_history(app, seeded, now, args.customers)
        notes.append(
            f"history: {args.customers:,} customers, {ids['steps']:,} funnel steps, "
            f"{ids['activations']:,} subscriptions and activations (tallied in one pass) and "
            f"{366 * 24:,} hours in {history_s:.1f} s"
        )
        measured = pages(ids)
    with app.app_context():
        db.engine.dispose()

    with web_process() as (base, _web):
        cookie = log_in(base, "bench-owner@example.com")
        rows = measure_pages(base, cookie, measured, tool, args.duration, quick_requests)
    rows += activation_overhead(app, seeded, now, args.rounds, args.per_round)
    notes.append(
        f"pages: {tool}, {WORKERS} connections against {WORKERS} sync gunicorn workers, each "
        "page's load average (1 minute) beside it; the activation rounds alternate "
        "before/after so both see the same load"
    )
    report("Insight at scale", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
