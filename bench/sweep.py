"""Sweep throughput: due renewal reminders delivered through the Bot API emulator at its limit.

10,000 subscriptions end within the next day, spread over 1 bot (then 10 bots). The emulator
enforces Telegram's limits (30 messages a second per bot, 1 a second per chat) and answers 429
beyond them. Real RQ workers (``python -m webapp.worker``) run the jobs; the lifecycle sweep is
enqueued as ``rq cron`` does, but as soon as the queue runs low rather than once a minute, so
the figure is what the workers and the shared rate limiter sustain (the once-a-minute ceiling
of production is printed beside it). Every customer must get exactly one reminder.

    python -m bench.sweep [--quick] [--reminders 10000] [--bots 1,10] [--workers 4]
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from bench import (
    Row,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    fresh_redis,
    load_average,
    parse_args,
    redis_url,
    report,
    run_cli,
    seed_project,
)
from bench.memory import vm_hwm_kib, vm_rss_kib
from bench.processes import Process, emulator, process_env

PER_BOT = 30
PER_CHAT = 1
FIRST_USER = 8_000_000
STALL_SECONDS = 60


def _args(parser):
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--bots", default="1,10", help="comma-separated bot counts, one run each")
    parser.add_argument("--workers", type=int, default=4, help="RQ worker processes")


def seed(app, bots: int, reminders: int, now: datetime) -> list:
    """``bots`` projects and ``reminders`` open subscriptions ending in 12 h, round robin."""
    from webapp.extensions import db
    from webapp.models import Customer, Subscription

    with app.app_context():
        projects = [seed_project(db.session, now, n) for n in range(1, bots + 1)]
        db.session.commit()
        customers = [
            {
                "project_id": projects[i % bots].project_id,
                "telegram_user_id": FIRST_USER + i,
                "first_name": "Ann",
                "created_at": now,
            }
            for i in range(reminders)
        ]
        db.session.execute(insert(Customer), customers)
        ids = dict(db.session.execute(select(Customer.telegram_user_id, Customer.id)).all())
        ends = now + timedelta(hours=12)
        db.session.execute(
            insert(Subscription),
            [
                {
                    "project_id": projects[i % bots].project_id,
                    "customer_id": ids[FIRST_USER + i],
                    "plan_id": projects[i % bots].plan_id,
                    "started_at": now - timedelta(days=30),
                    "ends_at": ends + timedelta(seconds=i % 3600),
                }
                for i in range(reminders)
            ],
        )
        db.session.commit()
        db.session.remove()
    return projects


def settled(app) -> tuple[int, int]:
    """(reminders recorded as sent, reminders recorded as failed for good)."""
    from webapp.extensions import db
    from webapp.models import Subscription

    with app.app_context():
        sent = db.session.scalar(
            select(func.count()).where(Subscription.reminder_sent_at.is_not(None))
        )
        failed = db.session.scalar(
            select(func.count()).where(Subscription.reminder_error.is_not(None))
        )
        db.session.remove()
    return sent, failed


def one_run(app, bots: int, reminders: int, workers: int, quick: bool) -> tuple[list[Row], list]:
    from rq import Queue

    from webapp.queues import QUEUE_NAME, redis_from_url

    now = bench_now()
    fresh_database(app)
    fresh_redis()
    projects = seed(app, bots, reminders, now)
    emu = emulator()
    for p in projects:
        emu.add_bot(p.bot_token, username=p.bot_username, first_name=p.bot_username)
    for i in range(reminders):
        emu.add_user(FIRST_USER + i, "Ann", None, username=None)
        # Each customer activated a code in their project's bot, so they started it.
        emu.start_bot(FIRST_USER + i, projects[i % bots].bot_token)
    emu.set_rate_limit(per_bot_per_second=PER_BOT, per_chat_per_second=PER_CHAT)
    queue = Queue(QUEUE_NAME, connection=redis_from_url(redis_url()))
    env = process_env(emu.url)
    procs = [Process("webapp.worker", env) for _ in range(workers)]
    notes: list[str] = []
    peak: list[tuple[int, int]] = []
    sweeps = 0
    try:
        for proc in procs:
            proc.wait_for_log("Listening on")
        start = time.time()
        # However slow the machine, wait while reminders keep settling; a minute without any
        # progress means something is stuck, and what is left is reported as undelivered.
        progress, progress_at = -1, time.monotonic()
        last_sweep = None
        while True:
            sent, failed = settled(app)
            if sent + failed >= reminders:
                break
            if sent + failed != progress:
                progress, progress_at = sent + failed, time.monotonic()
            elif time.monotonic() - progress_at > STALL_SECONDS:
                notes.append(
                    f"{bots} bot(s): no progress for {STALL_SECONDS} s; stopped with "
                    f"{sent + failed} of {reminders} settled"
                )
                break
            sweep_done = last_sweep is None or last_sweep.get_status(refresh=True) in (
                "finished",
                "failed",
            )
            if sweep_done and queue.count < 200:
                last_sweep = queue.enqueue("webapp.jobs.sweep_lifecycle", job_timeout=300)
                sweeps += 1
            time.sleep(0.25)
        # A doubled message would arrive just after the rest: give it the chance.
        time.sleep(0.3 if quick else 1.5)
        peak = [(vm_hwm_kib(p.pid) or 0, vm_rss_kib(p.pid) or 0) for p in procs]
    finally:
        for proc in procs:
            if proc.stop() not in (0, -15):
                notes.append(f"a worker exited with {proc.proc.returncode}:\n{proc.log()}")
    sent_messages = emu.sent_messages()
    stats = emu.stats()
    emu.stop()

    customers = {FIRST_USER + i for i in range(reminders)}
    reminders_out = [m for m in sent_messages if m["chat"]["id"] in customers]
    per_chat = Counter(m["chat"]["id"] for m in reminders_out)
    lost = sum(1 for c in customers if per_chat[c] == 0)  # never sent, for whatever reason
    doubled = sum(1 for c in customers if per_chat[c] > 1)
    by_bot: dict[str, list[float]] = {}
    for m in reminders_out:
        by_bot.setdefault(m["_token"], []).append(m["_at"])
    rates = []
    for times in by_bot.values():
        span = max(times) - min(times)
        rates.append(len(times) / span if span > 0 else float("nan"))
    total_span = max(m["_at"] for m in reminders_out) - start if reminders_out else float("nan")
    mean_rate = sum(rates) / len(rates) if rates else float("nan")
    good = lost == 0 and doubled == 0
    label = f"{reminders:,} reminders, {bots} bot{'s' if bots > 1 else ''}, {workers} workers"
    rows = [
        Row(
            f"{label}: lost / doubled",
            f"{lost} lost, {doubled} doubled ({len(reminders_out):,} delivered)",
            "0 / 0",
            good,
            check=True,
        ),
        Row(
            f"{label}: sustained rate per bot (mean over bots)",
            f"{mean_rate:.1f}/s = {mean_rate / PER_BOT:.0%} of {PER_BOT}/s "
            f"(all bots: {len(reminders_out) / total_span:.1f}/s, {total_span:.0f} s)",
            f"≥ {0.9 * PER_BOT:.0f}/s",
            mean_rate >= 0.9 * PER_BOT,
        ),
        Row(
            f"{label}: 429 answers from the emulator",
            f"{stats['rate_limited']} ({sweeps} sweeps enqueued)",
            "no storm",
            stats["rate_limited"] <= max(10, reminders // 100),
        ),
        Row(
            f"peak RSS: worker ({bots} bot run)",
            ", ".join(f"{hwm / 1024:.0f} MiB (now {rss / 1024:.0f})" for hwm, rss in peak),
        ),
    ]
    return rows, notes


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    bot_counts = [int(n) for n in args.bots.split(",")]
    if args.quick:
        args.reminders, args.workers, bot_counts = 20, 1, [2]
    load_before = load_average()
    app = bench_app(database_url())
    rows: list[Row] = []
    notes: list[str] = []
    for bots in bot_counts:
        more_rows, more_notes = one_run(app, bots, args.reminders, args.workers, args.quick)
        rows += more_rows
        notes += more_notes
    from webapp.jobs import SWEEP_LIMIT
    from webapp.throttle import PER_BOT_PER_SECOND

    notes.append(
        f"production sweeps come once every 60 s (webapp/cron.py) and enqueue at most "
        f"{SWEEP_LIMIT:,} reminders each (webapp.jobs.SWEEP_LIMIT), {SWEEP_LIMIT / 60:,.0f}/s "
        "over all bots together; this bench sweeps whenever the queue runs low instead; "
        f"each bot is paced to {PER_BOT_PER_SECOND}/s (webapp.throttle), Telegram allows ~30/s"
    )
    with app.app_context():
        from webapp.extensions import db

        db.engine.dispose()
    report("Sweep throughput", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
