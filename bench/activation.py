"""Activation under load: the domain's activation path (``activate_code`` + commit, no Telegram).

1. Contention: many customers tap one code with max 100 at the same moment (one thread and one
   pooled connection each) → exactly 100 activations, and the counter says 100.
2. Throughput: distinct single-use codes activated by distinct first-time customers, from a few
   threads: activations per second and p50/p99 latency of one activation (app context, domain
   call, commit). The same transaction, statement for statement, in bare SQL over the driver
   beside it, as a ratio.

``--profile`` adds a cProfile of a sequential run (what limits the domain path).

    python -m bench.activation [--quick] [--attempts 1000] [--codes 10000] [--threads 4]
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import queue
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from bench import (
    Row,
    Stopwatch,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    is_sqlite,
    load_average,
    ms,
    parse_args,
    percentile,
    report,
    run_cli,
    seed_project,
)

CONTENTION_MAX = 100


def _args(parser):
    parser.add_argument("--attempts", type=int, default=1000, help="simultaneous taps on one code")
    parser.add_argument("--codes", type=int, default=10_000, help="single-use codes to activate")
    parser.add_argument("--threads", type=int, default=4, help="activating threads (throughput)")
    parser.add_argument("--pool", type=int, default=60, help="connection pool for the contention")
    parser.add_argument("--profile", action="store_true", help="cProfile a sequential run")


def make_codes(app, seeded, count: int, max_activations: int, now) -> list[str]:
    """``count`` codes made by the domain, in batches of up to 500, committed."""
    from webapp.domain.codes import MAX_BATCH, CodeRequest, create_codes
    from webapp.extensions import db

    texts: list[str] = []
    with app.app_context():
        while len(texts) < count:
            n = min(MAX_BATCH, count - len(texts))
            req = CodeRequest(seeded.plan_id, max_activations, None, count=n)
            _, codes = create_codes(db.session, seeded.project_id, req, owner_id=None, now=now)
            texts += [c.code for c in codes]
            db.session.commit()
        db.session.remove()
    return texts


def customer(user_id: int):
    from webapp.domain.customers import TelegramUser

    return TelegramUser(user_id, "Ann", "Lee", f"user{user_id}")


# --- 1. contention ----------------------------------------------------------------------------


def contention(app, seeded, code_text: str, attempts: int, now) -> tuple[Counter, float]:
    """``attempts`` threads released together at a barrier, each activating ``code_text``."""
    from webapp.domain.activation import activate_code
    from webapp.domain.errors import ActivationRefused
    from webapp.extensions import db

    barrier = threading.Barrier(attempts + 1)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def attempt(user_id: int):
        barrier.wait()
        with app.app_context():
            try:
                activate_code(db.session, seeded.project_id, code_text, customer(user_id), now)
                db.session.commit()
                outcome = "activated"
            except ActivationRefused as refusal:
                db.session.rollback()
                outcome = type(refusal).__name__
            except Exception as exc:  # counted, so a failure shows in the figures
                db.session.rollback()
                outcome = f"error: {type(exc).__name__}: {exc}"[:200]
            finally:
                db.session.remove()
        with lock:
            outcomes[outcome] += 1

    threads = [
        threading.Thread(target=attempt, args=(1_000_000 + i,), daemon=True)
        for i in range(attempts)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    with Stopwatch() as watch:
        for thread in threads:
            thread.join()
    return outcomes, watch.seconds


def stored_count(app, code_text: str) -> tuple[int, int]:
    """The code's counter and its number of activation rows, as committed."""
    from webapp.domain.codes import lookup_key
    from webapp.extensions import db
    from webapp.models import AccessCode, Activation

    with app.app_context():
        code = db.session.scalars(
            select(AccessCode).where(AccessCode.lookup_key == lookup_key(code_text))
        ).one()
        rows = db.session.scalar(
            select(func.count()).select_from(Activation).where(Activation.code_id == code.id)
        )
        db.session.remove()
    return code.activation_count, rows


# --- 2. throughput ----------------------------------------------------------------------------


def run_workers(work: list, threads: int, make_worker) -> tuple[list[float], float, float, Counter]:
    """Feed ``work`` to ``threads`` workers: each item's latency, the wall time, this process's
    CPU time (steady when other processes load the machine), the outcomes.

    ``make_worker()`` runs in its thread and returns (activate(item) -> outcome, close()).
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in work:
        todo.put(item)
    latencies: list[float] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)

    def loop():
        activate, close = make_worker()
        mine: list[float] = []
        counts: Counter = Counter()
        ready.wait()
        try:
            while True:
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    break
                start = time.perf_counter()
                outcome = activate(item)
                mine.append(time.perf_counter() - start)
                counts[outcome] += 1
        finally:
            close()
        with lock:
            latencies.extend(mine)
            outcomes.update(counts)

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    cpu = time.process_time()
    with Stopwatch() as watch:
        for worker in workers:
            worker.join()
    return latencies, watch.seconds, time.process_time() - cpu, outcomes


def domain_worker(app, seeded, now):
    from webapp.domain.activation import activate_code
    from webapp.extensions import db

    def make():
        def activate(item):
            code_text, user_id = item
            with app.app_context():
                try:
                    activate_code(db.session, seeded.project_id, code_text, customer(user_id), now)
                    db.session.commit()
                    return "activated"
                except Exception as exc:
                    db.session.rollback()
                    return f"error: {type(exc).__name__}"
                finally:
                    db.session.remove()

        return activate, lambda: None

    return make


class BareActivation:
    """The domain's transaction, statement for statement, straight on the DB-API driver.

    The same reads, savepoints, row locks, inserts and the audit row that ``activate_code``
    issues (see the SQL log of one activation); the rules are not re-checked beyond what the
    statements themselves do, so this is the floor the domain path is compared with.
    """

    def __init__(self, url: str):
        self.sqlite = is_sqlite(url)
        if self.sqlite:
            import sqlite3

            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
            self.conn.isolation_level = None
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        else:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def close(self):
        self.conn.close()

    def q(self, sql: str, params=()):
        if self.sqlite:
            sql = sql.replace("%s", "?").replace(" FOR UPDATE", "")
        return self.conn.execute(sql, params)

    def ts(self, moment: datetime):
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ") if self.sqlite else naive

    def activate(self, project_id: int, raw_code: str, user_id: int, now: datetime) -> str:
        from webapp.domain.codes import lookup_key
        from webapp.domain.periods import period_end

        q, ts = self.q, self.ts
        q("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")
        try:
            code = q(
                "SELECT id, plan_id, code, max_activations, activation_count, expires_at"
                " FROM access_code WHERE project_id = %s AND lookup_key = %s"
                " AND deleted_at IS NULL",
                (project_id, lookup_key(raw_code)),
            ).fetchone()
            if code is None:
                q("ROLLBACK")
                return "UnknownCode"
            code_id, plan_id, text = code[0], code[1], code[2]
            found = q(
                "SELECT id, first_name, last_name, username FROM customer"
                " WHERE project_id = %s AND telegram_user_id = %s",
                (project_id, user_id),
            ).fetchone()
            if found is None:
                q("SAVEPOINT sp1")
                customer_id = q(
                    "INSERT INTO customer (project_id, telegram_user_id, username, first_name,"
                    " last_name, created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (project_id, user_id, f"user{user_id}", "Ann", "Lee", ts(now)),
                ).fetchone()[0]
                q("RELEASE SAVEPOINT sp1")
            else:
                customer_id = found[0]
            if q(
                "SELECT id FROM activation WHERE code_id = %s AND customer_id = %s",
                (code_id, customer_id),
            ).fetchone():
                q("ROLLBACK")
                return "AlreadyActivated"
            q("SAVEPOINT sp2")
            counted = q(
                "UPDATE access_code SET activation_count = activation_count + 1"
                " WHERE id = %s AND deleted_at IS NULL"
                " AND activation_count < max_activations",
                (code_id,),
            )
            if counted.rowcount != 1:
                q("ROLLBACK")
                return "CodeUsedUp"
            q("SELECT id FROM customer WHERE id = %s FOR UPDATE", (customer_id,))
            plan = q(
                "SELECT id, name, period_unit, period_count FROM plan WHERE id = %s", (plan_id,)
            ).fetchone()
            subscription = q(
                "SELECT id, ends_at FROM subscription WHERE customer_id = %s AND plan_id = %s"
                " AND ended_at IS NULL ORDER BY id DESC FOR UPDATE",
                (customer_id, plan_id),
            ).fetchone()
            assert subscription is None, "the bench activates for first-time customers only"
            ends_at = period_end(now, plan[2], plan[3])
            subscription_id = q(
                "INSERT INTO subscription (project_id, customer_id, plan_id, started_at, ends_at)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (project_id, customer_id, plan_id, ts(now), ts(ends_at)),
            ).fetchone()[0]
            q(
                "INSERT INTO activation (project_id, code_id, customer_id, subscription_id,"
                " activated_at, ends_before, ends_after, created_subscription)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    project_id,
                    code_id,
                    customer_id,
                    subscription_id,
                    ts(now),
                    ts(now),
                    ts(ends_at),
                    True,
                ),
            ).fetchone()
            q("RELEASE SAVEPOINT sp2")
            q("SELECT id, activation_count FROM access_code WHERE id = %s", (code_id,)).fetchone()
            q("SELECT id, name FROM plan WHERE id = %s", (plan_id,)).fetchone()
            details = {
                "code": text,
                "telegram_user_id": user_id,
                "username": f"user{user_id}",
                "plan": plan[1],
                "ends_at": ends_at.isoformat(),
                "extended": False,
            }
            q(
                "INSERT INTO audit_event (project_id, code_id, customer_id, action, details,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (project_id, code_id, customer_id, "code.activated", json.dumps(details), ts(now)),
            ).fetchone()
            q("COMMIT")
            return "activated"
        except Exception as exc:
            q("ROLLBACK")
            return f"error: {type(exc).__name__}: {exc}"[:200]


def bare_worker(url: str, seeded, now):
    def make():
        bare = BareActivation(url)

        def activate(item):
            code_text, user_id = item
            return bare.activate(seeded.project_id, code_text, user_id, now)

        return activate, bare.close

    return make


def profile_domain(app, seeded, work: list, now, top: int = 25) -> str:
    """cProfile of activating ``work`` one after another: where the domain path spends its time."""
    activate, _ = domain_worker(app, seeded, now)()
    profiler = cProfile.Profile()
    profiler.enable()
    for item in work:
        activate(item)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    out.write("\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --- the run ----------------------------------------------------------------------------------


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    if args.quick:
        args.attempts, args.codes, args.threads, args.pool = 30, 40, 2, 10
    load_before = load_average()
    url = database_url()
    now = bench_now()
    app = bench_app(url, pool_size=max(args.pool, args.threads))
    fresh_database(app)
    from webapp.extensions import db

    with app.app_context():
        seeded = seed_project(db.session, now)
        db.session.commit()
        db.session.remove()

    rows: list[Row] = []
    notes: list[str] = []
    max_activations = min(CONTENTION_MAX, max(1, args.attempts // 10))

    # 1. contention
    [hot] = make_codes(app, seeded, 1, max_activations, now)
    outcomes, seconds = contention(app, seeded, hot, args.attempts, now)
    counter, activation_rows = stored_count(app, hot)
    exact = (
        outcomes["activated"] == max_activations
        and outcomes["CodeUsedUp"] == args.attempts - max_activations
        and counter == activation_rows == max_activations
    )
    rows.append(
        Row(
            f"{args.attempts} simultaneous taps on a code with max {max_activations}",
            f"{outcomes['activated']} activated, {outcomes['CodeUsedUp']} used up; counter "
            f"{counter}, {activation_rows} rows ({seconds:.2f} s)",
            f"exactly {max_activations}",
            exact,
            check=True,
        )
    )
    others = {k: v for k, v in outcomes.items() if k not in ("activated", "CodeUsedUp")}
    if others:
        notes.append(f"unexpected contention outcomes: {others}")

    # 2. throughput: the domain, then bare SQL, on fresh codes and first-time customers each
    domain_codes = make_codes(app, seeded, args.codes, 1, now)
    bare_codes = make_codes(app, seeded, args.codes, 1, now)
    domain_work = [(c, 2_000_000 + i) for i, c in enumerate(domain_codes)]
    bare_work = [(c, 3_000_000 + i) for i, c in enumerate(bare_codes)]
    ours, ours_s, ours_cpu, ours_out = run_workers(
        domain_work, args.threads, domain_worker(app, seeded, now)
    )
    bare, bare_s, bare_cpu, bare_out = run_workers(
        bare_work, args.threads, bare_worker(url, seeded, now)
    )
    all_done = ours_out == Counter(activated=args.codes) and bare_out == Counter(
        activated=args.codes
    )
    if not all_done:
        notes.append(f"throughput outcomes: domain {dict(ours_out)}, bare SQL {dict(bare_out)}")
    ours_rate, bare_rate = args.codes / ours_s, args.codes / bare_s
    ratio = bare_rate / ours_rate
    ours_p99 = percentile(ours, 99)
    rows += [
        Row(
            f"{args.codes:,} single-use codes, {args.threads} threads: all activated",
            f"domain {ours_out['activated']:,}, bare SQL {bare_out['activated']:,}",
            f"{args.codes:,} each",
            all_done,
            check=True,
        ),
        Row("activations per second (domain)", f"{ours_rate:,.0f}/s", "≥ 500/s", ours_rate >= 500),
        Row("latency p50 (domain)", ms(percentile(ours, 50)), ""),
        Row("latency p99 (domain)", ms(ours_p99), "< 50 ms", ours_p99 < 0.050),
        Row("activations per second (bare SQL)", f"{bare_rate:,.0f}/s", ""),
        Row(
            "latency p50 / p99 (bare SQL)",
            f"{ms(percentile(bare, 50))} / {ms(percentile(bare, 99))}",
        ),
        Row("domain ÷ bare SQL (time per activation)", f"{ratio:.2f}x", "≤ 2x", ratio <= 2),
        Row(
            "client CPU per activation: domain / bare SQL",
            f"{ours_cpu / args.codes * 1000:.2f} ms / {bare_cpu / args.codes * 1000:.2f} ms "
            f"({ours_cpu / bare_cpu:.1f}x)",
        ),
    ]
    if args.profile:
        sample = [(c, 4_000_000 + i) for i, c in enumerate(make_codes(app, seeded, 2000, 1, now))]
        print(profile_domain(app, seeded, sample, now))
    with app.app_context():
        db.engine.dispose()
    report(
        "Activation under load",
        rows,
        args,
        notes=notes
        + [
            "domain = app context + `activate_code` + commit per activation, production engine "
            "options (pool_pre_ping); bare SQL = the same statements on one psycopg connection "
            "per thread.",
        ],
        load_before=load_before,
    )
    return rows


if __name__ == "__main__":
    run_cli(main)
