"""Benchmarks: measurements, not tests.

``python -m bench`` runs them all, ``python -m bench.<name>`` one; each prints its figures and
appends a dated table to ``bench/RESULTS.md``.

They run against DATABASE_URL / REDIS_URL (default: the local ``bench`` PostgreSQL database and
Redis db 15) and EMPTY that database first: never point them at data you want to keep.
``--quick`` runs a tiny version that checks only that the figures can still be produced (the
smoke test uses it) and records nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def database_url() -> str:
    from webapp.config import normalize_database_url

    return normalize_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def parse_args(description: str, argv: Sequence[str] | None, add: Callable | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run that checks correctness only; no record"
    )
    parser.add_argument(
        "--no-record", action="store_true", help=f"print only; do not append to {RESULTS.name}"
    )
    if add is not None:
        add(parser)
    return parser.parse_args(argv)


# --- the application and its database ---------------------------------------------------------


def bench_app(url: str | None = None, pool_size: int = 10, **config):
    """The production app factory on the bench database, with a pool big enough for the run."""
    from webapp import create_app
    from webapp.config import engine_options

    url = url or database_url()
    options = engine_options(url)
    if not is_sqlite(url):
        options.update(pool_size=pool_size, max_overflow=0, pool_timeout=120)
    if os.environ.get("ADMIT_TEST_NOW"):
        os.environ["ADMIT_FAKE_CLOCK"] = "1"  # this process reads the run's clock too
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
            "REDIS_URL": redis_url(),
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-secret",
            **config,
        }
    )
    if os.environ.get("ADMIT_TEST_NOW"):
        from webapp.clock import set_fake_now
        from webapp.queues import redis_from_url

        set_fake_now(redis_from_url(redis_url()), bench_now(), ticking=True)
    return app


_LOCK = None  # the connection holding this process's claim on the bench database
_LOCK_KEY = 7_146_050_601  # any constant: PostgreSQL advisory locks are just numbers


def claim_database(url: str) -> None:
    """Hold a PostgreSQL advisory lock for the life of this process, so two benchmarks never
    empty the database under each other; a second one stops at once with a clear message."""
    global _LOCK
    if _LOCK is not None or is_sqlite(url):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    conn = create_engine(url, poolclass=NullPool).connect()
    if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY}).scalar():
        conn.close()
        raise SystemExit("another benchmark is using this database; wait for it to finish")
    conn.commit()
    _LOCK = conn


def fresh_database(app) -> None:
    """Bring the schema to the latest migration and empty every table."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from webapp.extensions import db

    claim_database(app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                # Twice: deleting codes and activations runs the tally triggers (migration
                # insight_02), which may write to a tally table emptied before them.
                for name in tables + tables:
                    conn.execute(text(f"DELETE FROM {name}"))
        db.session.remove()


def fresh_redis() -> None:
    """Empty the bench's Redis db: queues, throttle windows, counters of an earlier run.

    Under ``ADMIT_TEST_NOW`` (the suite's quick runs on another date) the product's clock in every
    process of the run is set to start at that moment and run on, as the emulator's does.
    """
    from webapp.clock import set_fake_now
    from webapp.queues import redis_from_url

    redis = redis_from_url(redis_url())
    redis.flushdb()
    if os.environ.get("ADMIT_TEST_NOW"):
        set_fake_now(redis, bench_now(), ticking=True)


def bench_now() -> datetime:
    """The run's "now": ``ADMIT_TEST_NOW`` when the test suite runs a quick check on another
    date, else the real time. Seeds, processes and the emulator all start from it."""
    from webapp.clock import moment_from_env

    return moment_from_env() or datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Seeded:
    owner_id: int
    project_id: int
    plan_id: int
    bot_token: str
    bot_username: str
    plan_name: str


def seed_project(session, now: datetime, n: int = 1, *, email: str | None = None) -> Seeded:
    """An owner, a project with a bot, one channel and a 3-month plan; flushed, not committed."""
    from werkzeug.security import generate_password_hash

    from webapp.models import Owner, Plan, Project, Resource

    owner = Owner(
        email=email or f"bench{n}@example.com",
        password_hash=generate_password_hash(BENCH_PASSWORD),
        created_at=now,
    )
    project = Project(
        owner=owner,
        name=f"Bench Club {n}",
        bot_token=f"{900000 + n}:BENCH-token-{n}",
        bot_user_id=900000 + n,
        bot_username=f"BenchClub{n}Bot",
        created_at=now,
    )
    resource = Resource(
        project=project,
        chat_id=-1009000000000 - n,
        title=f"Bench Club {n} Channel",
        chat_type="channel",
        can_invite_users=True,
        can_restrict_members=True,
        bot_is_admin=True,
    )
    plan = Plan(
        project=project,
        name="3 months",
        period_unit="month",
        period_count=3,
        resources=[resource],
        created_at=now,
    )
    session.add_all([owner, project, resource, plan])
    session.flush()
    return Seeded(owner.id, project.id, plan.id, project.bot_token, project.bot_username, plan.name)


BENCH_PASSWORD = "bench horse battery staple"


# --- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True)
class Row:
    """One line of a results table. A ``check`` row is about correctness (exactly N, none lost),
    not time: a failed check makes the benchmark exit with status 1; a missed time target never
    does."""

    measure: str
    figure: str
    target: str = ""
    met: bool | None = None
    check: bool = False

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "**no**", None: ""}[self.met]


class Stopwatch:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe_machine(url: str) -> str:
    """Cores, backends and their versions: what a figure depends on."""
    parts = [f"{os.cpu_count()} cores", f"Python {platform.python_version()}"]
    if is_sqlite(url):
        import sqlite3

        parts.append(f"SQLite {sqlite3.sqlite_version}")
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            parts.append("PostgreSQL " + conn.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    return ", ".join(parts)


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def report(title: str, rows: list[Row], args, *, notes: Sequence[str] = (), load_before: str = ""):
    """Print the table; append it, dated, to RESULTS.md unless ``--quick`` / ``--no-record``."""
    url = database_url()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {title} — {stamp}",
        "",
        f"{describe_machine(url)}; commit {git_revision()}; load average "
        f"{load_before or '?'} before, {load_average()} after.",
        "",
        "| measure | figure | target | met |",
        "| --- | --- | --- | --- |",
        *(f"| {r.measure} | {r.figure} | {r.target} | {r.verdict} |" for r in rows),
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    text = "\n".join(lines) + "\n"
    print("\n" + text, flush=True)
    for row in rows:
        if row.check:
            print(f"check {'ok' if row.met else 'FAILED'}: {row.measure}", flush=True)
    if not (args.quick or args.no_record):
        fresh = not RESULTS.exists()
        with RESULTS.open("a", encoding="utf-8") as out:
            if fresh:
                out.write(
                    "# Benchmark results\n\nAppended by `python -m bench` (see bench/__init__.py);"
                    " newest last.\n"
                )
            out.write("\n" + text)


def seed_codes(app, seeded: Seeded, count: int, now: datetime, *, chunk: int = 250_000) -> float:
    """Add ``count`` codes to the seeded project straight in SQL (COPY-fast), then ANALYZE.

    Random 16-symbol keys, so the (project, lookup_key) index fills as it does in life; created
    over the past year, a tenth used up, a tenth expired. Returns the seconds it took.
    """
    from sqlalchemy import text

    from webapp.extensions import db

    params = {
        "project": seeded.project_id,
        "plan": seeded.plan_id,
        "now": now.astimezone(UTC).replace(tzinfo=None),
    }
    with app.app_context(), Stopwatch() as watch:
        postgres = db.engine.dialect.name == "postgresql"
        done = 0
        while done < count:
            n = min(chunk, count - done)
            with db.engine.begin() as conn:
                if postgres:
                    conn.execute(text(_SEED_CODES_POSTGRES), {**params, "first": done, "n": n})
                else:
                    sqlite_params = {**params, "now": params["now"].isoformat(" ")}
                    conn.execute(text(_SEED_CODES_SQLITE), {**sqlite_params, "first": done, "n": n})
            done += n
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE access_code" if postgres else "ANALYZE"))
        db.session.remove()
    return watch.seconds


_SEED_CODES_POSTGRES = """
INSERT INTO access_code (project_id, plan_id, code, lookup_key, max_activations, activation_count,
                         expires_at, created_at)
SELECT :project, :plan,
       substr(k, 1, 4) || '-' || substr(k, 5, 4) || '-'
           || substr(k, 9, 4) || '-' || substr(k, 13, 4),
       k,
       CASE WHEN i % 10 = 0 THEN 1 ELSE 5 END,
       CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 10 = 1 THEN CAST(:now AS timestamp) - interval '1 day' END,
       CAST(:now AS timestamp) - (i % 525600) * interval '1 minute'
FROM (SELECT i, upper(substr(md5(i::text || ':' || random()::text), 1, 16)) AS k
      FROM generate_series(:first + 1, :first + :n) AS i) AS s
"""

_SEED_CODES_SQLITE = """
WITH RECURSIVE seq(i) AS (SELECT :first + 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :first + :n)
INSERT INTO access_code (project_id, plan_id, code, lookup_key, max_activations, activation_count,
                         expires_at, created_at)
SELECT :project, :plan,
       substr(k, 1, 4) || '-' || substr(k, 5, 4) || '-'
           || substr(k, 9, 4) || '-' || substr(k, 13, 4),
       k,
       CASE WHEN i % 10 = 0 THEN 1 ELSE 5 END,
       CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 10 = 1 THEN datetime(:now, '-1 day') END,
       datetime(:now, '-' || (i % 525600) || ' minutes')
FROM (SELECT i, hex(randomblob(8)) AS k FROM seq)
"""


def run_cli(main: Callable[[], list[Row]]) -> None:
    """``python -m bench.<name>``: exit 1 when a correctness check failed (never for a time)."""
    rows = main()
    raise SystemExit(0 if all(r.met for r in rows if r.check) else 1)
