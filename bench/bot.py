"""Bot throughput: 1,000 ``/start <code>`` updates at once against the real ``python -m bot``.

The Bot API emulator (webapp.telegram_emulator, no injected delays, no rate limit) runs in this
process; one bot process long-polls it for every project. Every customer taps the activation
link of their own single-use code at the same moment (with 10 bots, 100 customers each); each
must get exactly one confirmation, and the database must hold exactly one activation each.
Latency is from putting the update in the emulator's queue to the emulator receiving the
confirmation ``sendMessage`` (the bot's wait for its next ``getUpdates`` answer and its own
pacing (webapp.throttle) are included; the emulator adds no delays of its own).

    python -m bench.bot [--quick] [--updates 1000] [--bots 1,10]
"""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from bench import (
    Row,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    fresh_redis,
    load_average,
    ms,
    parse_args,
    percentile,
    report,
    run_cli,
    seed_project,
)
from bench.activation import make_codes
from bench.memory import peak_rss_row
from bench.processes import Process, emulator, process_env, wait_until

CONFIRMATION = "Code accepted"


def _args(parser):
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--bots", default="1,10", help="comma-separated bot counts, one run each")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for answers")


def one_run(app, bots: int, updates: int, quick: bool, timeout: float):
    from webapp.extensions import db
    from webapp.models import Activation

    now = bench_now()
    fresh_database(app)
    fresh_redis()
    with app.app_context():
        projects = [seed_project(db.session, now, n) for n in range(1, bots + 1)]
        db.session.commit()
        db.session.remove()
    emu = emulator()
    work = []  # (token, user id, code), the bots' updates interleaved
    per_bot = [make_codes(app, p, updates // bots, 1, now) for p in projects]
    for n, project in enumerate(projects, start=1):
        bot_id = int(project.bot_token.split(":")[0])
        chat_id = -1009000000000 - n  # seed_project's channel
        emu.add_bot(project.bot_token, username=project.bot_username, first_name="Bench Club")
        emu.add_chat(chat_id, "channel", title=f"Bench Club {n} Channel")
        emu.set_chat_admin(chat_id, bot_id, can_invite_users=True, can_restrict_members=True)
    for i in range(updates // bots):
        for project, codes in zip(projects, per_bot, strict=True):
            work.append((project.bot_token, 7_000_000 + len(work), codes[i]))
    for _, user_id, _ in work:
        emu.add_user(user_id, "Ann", "Lee", username=f"ann{user_id}")

    poll = "2" if quick else "10"
    bot = Process("bot", process_env(emu.url, BOT_RELOAD_SECONDS="1", BOT_POLL_TIMEOUT=poll))
    notes: list[str] = []
    try:
        bot.wait_for_log("membership bot started")
        for project in projects:
            wait_until(
                lambda p=project: emu.calls(token=p.bot_token, method="getUpdates"),
                60,
                "the first poll",
            )
        injected: dict[int, float] = {}
        for token, user_id, code in work:
            injected[user_id] = time.time()
            emu.send_message(token, user_id, f"/start {code}")
        first = min(injected.values())
        try:
            wait_until(
                lambda: emu.stats()["messages_sent"] >= len(work), timeout, "every answer", 0.2
            )
        except TimeoutError as exc:
            notes.append(str(exc))
        # Anything doubled would come a moment after the rest: let it arrive before counting.
        settle_until = time.monotonic() + (0.3 if quick else 2)
        while time.monotonic() < settle_until and bot.alive():
            time.sleep(0.1)
        rss = peak_rss_row(f"bot (python -m bot, {bots} bot run)", bot.pid)
    finally:
        code = bot.stop()
    sent = emu.sent_messages()
    stats = emu.stats()
    emu.stop()
    if code != 0:
        notes.append(f"bot exited with {code}; its log:\n{bot.log()}")

    confirmations = [m for m in sent if CONFIRMATION in (m.get("text") or "")]
    per_chat = Counter(m["chat"]["id"] for m in confirmations)
    answered = sum(1 for u in injected if per_chat[u] >= 1)
    doubled = sum(1 for u in injected if per_chat[u] > 1)
    other = len(sent) - len(confirmations)
    first_answer: dict[int, float] = {}
    for m in confirmations:
        first_answer.setdefault(m["chat"]["id"], m["_at"])
    latencies = [at - injected[u] for u, at in first_answer.items() if u in injected]
    last = max(first_answer.values(), default=first)
    with app.app_context():
        activations = db.session.scalar(select(func.count()).select_from(Activation))
        db.session.remove()
    n = len(work)
    all_good = answered == n and doubled == 0 and activations == n
    rate = answered / (last - first) if last > first else float("nan")
    label = f"{n:,} /start <code> at once, {bots} bot{'s' if bots > 1 else ''}"
    rows = [
        Row(
            f"{label}: answered, doubled, activations",
            f"{answered:,} answered, {doubled} doubled, {activations:,} activations; "
            f"{other} other messages",
            f"all {n:,}, 0 doubled",
            all_good,
            check=True,
        ),
        Row(f"{label}: updates per second (first in → last answered)", f"{rate:,.1f}/s"),
        Row(
            f"{label}: update → confirmation p50 / p99 / max",
            f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 99))} / "
            f"{ms(max(latencies, default=0))}",
        ),
        Row(
            f"{label}: Bot API calls by the bot",
            ", ".join(f"{k} {v}" for k, v in sorted(stats["by_method"].items()))
            + f"; {stats['rate_limited']} answered 429",
        ),
        rss,
    ]
    return rows, notes


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    bot_counts = [int(n) for n in args.bots.split(",")]
    if args.quick:
        args.updates, args.timeout, bot_counts = 10, 60, [2]
    load_before = load_average()
    app = bench_app(database_url())
    rows: list[Row] = []
    from webapp.throttle import PER_BOT_PER_SECOND as pace

    notes = [
        f"the bot paces its replies to {pace} messages/s per bot (webapp.throttle, shared with "
        f"the workers), so one bot's {args.updates:,} answers take at least "
        f"{args.updates / pace:.0f} s: with one bot the latency is that queue; with 10 bots the "
        f"pacing allows {10 * pace}/s and the bot's own capacity shows"
    ]
    for bots in bot_counts:
        more_rows, more_notes = one_run(app, bots, args.updates, args.quick, args.timeout)
        rows += more_rows
        notes += more_notes
    with app.app_context():
        from webapp.extensions import db

        db.engine.dispose()
    report("Bot throughput", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
