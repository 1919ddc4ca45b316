"""Bot throughput: 1,000 ``/start <code>`` updates at once against the real ``python -m bot``.

The Bot API emulator (tests.telegram_emulator, no injected delays, no rate limit) runs in this
process; the bot process long-polls it. Every customer taps the activation link of their own
single-use code at the same moment; each must get exactly one confirmation, and the database
must hold exactly one activation each. Latency is from putting the update in the emulator's
queue to the emulator receiving the confirmation ``sendMessage`` (the bot's wait for its next
``getUpdates`` answer is included; the emulator adds no delays of its own).

    python -m bench.bot [--quick] [--updates 1000]
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from bench import (
    Row,
    bench_app,
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
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for answers")


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    if args.quick:
        args.updates, args.timeout = 10, 60
    load_before = load_average()
    now = datetime.now(UTC).replace(microsecond=0)
    app = bench_app(database_url())
    fresh_database(app)
    fresh_redis()
    from webapp.extensions import db
    from webapp.models import Activation

    with app.app_context():
        seeded = seed_project(db.session, now)
        db.session.commit()
        db.session.remove()
    codes = make_codes(app, seeded, args.updates, 1, now)

    emu = emulator()
    bot_id = int(seeded.bot_token.split(":")[0])
    chat_id = -1009000000000 - 1  # seed_project's channel for project 1
    emu.add_bot(seeded.bot_token, username=seeded.bot_username, first_name="Bench Club")
    emu.add_chat(chat_id, "channel", title="Bench Club 1 Channel")
    emu.set_chat_admin(chat_id, bot_id, can_invite_users=True, can_restrict_members=True)
    users = [7_000_000 + i for i in range(args.updates)]
    for user_id in users:
        emu.add_user(user_id, "Ann", "Lee", username=f"ann{user_id}")

    poll = "2" if args.quick else "10"
    bot = Process("bot", process_env(emu.url, BOT_RELOAD_SECONDS="1", BOT_POLL_TIMEOUT=poll))
    rows: list[Row] = []
    notes: list[str] = []
    try:
        bot.wait_for_log("membership bot started")
        wait_until(
            lambda: emu.calls(token=seeded.bot_token, method="getUpdates"), 60, "the first poll"
        )
        injected: dict[int, float] = {}
        for user_id, code in zip(users, codes, strict=True):
            injected[user_id] = time.time()
            emu.send_message(seeded.bot_token, user_id, f"/start {code}")
        first = min(injected.values())

        def confirmed() -> int:
            return emu.stats()["messages_sent"]

        try:
            wait_until(lambda: confirmed() >= args.updates, args.timeout, "every answer", 0.2)
        except TimeoutError as exc:
            notes.append(str(exc))
        # Anything doubled would come a moment after the rest: let it arrive before counting.
        settle_until = time.monotonic() + (0.3 if args.quick else 2)
        while time.monotonic() < settle_until and bot.alive():
            time.sleep(0.1)
        rss = peak_rss_row("bot (python -m bot)", bot.pid)
    finally:
        code = bot.stop()
    sent = emu.sent_messages(token=seeded.bot_token)
    stats = emu.stats()
    emu.stop()
    if code != 0:
        notes.append(f"bot exited with {code}; its log:\n{bot.log()}")

    confirmations = [m for m in sent if CONFIRMATION in (m.get("text") or "")]
    per_chat = Counter(m["chat"]["id"] for m in confirmations)
    answered = sum(1 for u in users if per_chat[u] >= 1)
    doubled = sum(1 for u in users if per_chat[u] > 1)
    other = len(sent) - len(confirmations)
    latencies = []
    for m in confirmations:
        user_id = m["chat"]["id"]
        if user_id in injected and per_chat[user_id] >= 1:
            latencies.append(m["_at"] - injected[user_id])
    last = max((m["_at"] for m in confirmations), default=first)
    with app.app_context():
        activations = db.session.scalar(select(func.count()).select_from(Activation))
        db.engine.dispose()
    all_good = answered == args.updates and doubled == 0 and activations == args.updates
    rate = answered / (last - first) if last > first else float("nan")
    p99 = percentile(latencies, 99)
    rows += [
        Row(
            f"{args.updates:,} /start <code> at once: answered, doubled, activations",
            f"{answered:,} answered, {doubled} doubled, {activations:,} activations; "
            f"{other} other messages",
            f"all {args.updates:,}, 0 doubled",
            all_good,
            check=True,
        ),
        Row("updates per second (first update in → last confirmation out)", f"{rate:,.0f}/s"),
        Row(
            "update → confirmation p50 / p99 / max",
            f"{ms(percentile(latencies, 50))} / {ms(p99)} / {ms(max(latencies, default=0))}",
        ),
        Row(
            "Bot API calls by the bot",
            ", ".join(f"{k} {v}" for k, v in sorted(stats["by_method"].items())),
        ),
        rss,
    ]
    report("Bot throughput", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
