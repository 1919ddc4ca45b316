"""CPU per update: one activation ``/start <code>`` handled end to end through the dispatcher.

The same path polling and webhooks feed (bot.dispatch → handlers → domain → replies through the
Bot API emulator), one update at a time in this process, so the thread's CPU clock is the CPU of
the update alone (the emulator works in threads of its own); the SQL statements and transaction
ends that thread sends are counted too. A cProfile run over the same path, timed by that
thread's CPU clock, then says where the CPU goes, by package.

    python -m bench.update_profile [--quick] [--updates 300] [--top 25]
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import threading
import time
from collections import Counter

from bench import (
    Row,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    fresh_redis,
    load_average,
    parse_args,
    report,
    run_cli,
    seed_project,
)
from bench.activation import make_codes
from bench.processes import emulator


def _args(parser):
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--top", type=int, default=25, help="functions listed by own CPU time")


def one_update(token: str, user_id: int, code: str, update_id: int) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
            "text": f"/start {code}",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


class StatementCount:
    count = 0
    transactions = 0


@contextlib.contextmanager
def counting_statements(engine):
    """The SQL statements and transaction ends this thread sends while the block runs (the
    owner-notice thread and the emulator's are not the update's own work)."""
    from sqlalchemy import event

    counted = StatementCount()
    me = threading.get_ident()

    def on_statement(*_):
        if threading.get_ident() == me:
            counted.count += 1

    def on_end(*_):
        if threading.get_ident() == me:
            counted.transactions += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_end)
    event.listen(engine, "rollback", on_end)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_end)
        event.remove(engine, "rollback", on_end)


PACKAGES = ("sqlalchemy", "psycopg", "requests", "urllib3", "telebot", "redis", "http", "json",
            "flask", "jinja2", "webapp", "bot", "tests", "socket", "ssl", "email", "threading")


def package_of(filename: str) -> str:
    for name in PACKAGES:
        if f"/{name}/" in filename or filename.endswith(f"/{name}.py"):
            return name
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "other"


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    if args.quick:
        args.updates = 10
    load_before = load_average()
    app = bench_app(database_url())
    now = bench_now()
    fresh_database(app)
    fresh_redis()
    from webapp import telegram
    from webapp.extensions import db

    with app.app_context():
        seeded = seed_project(db.session, now, 1)
        db.session.commit()
        db.session.remove()
    codes = make_codes(app, seeded, 2 * args.updates + 10, 1, now)
    emu = emulator()
    telegram.configure(emu.url)
    bot_id = int(seeded.bot_token.split(":")[0])
    emu.add_bot(seeded.bot_token, username=seeded.bot_username, first_name="Bench Club")
    emu.add_chat(-1009000000001, "channel", title="Bench Club 1 Channel")
    emu.set_chat_admin(-1009000000001, bot_id, can_invite_users=True, can_restrict_members=True)
    users = [8_000_000 + i for i in range(2 * args.updates + 10)]
    for user_id in users:
        emu.add_user(user_id, "Ann", "Lee", username=f"a{user_id}")
        # The updates reach the dispatcher directly, not through the emulator: tell it the
        # customers pressed START, or it refuses the bot's answers as real Telegram would.
        emu.start_bot(user_id, seeded.bot_token)

    from telebot.types import Update

    from bot.dispatch import Dispatcher

    dispatcher = Dispatcher(app, seeded.project_id, seeded.bot_token)
    updates = [Update.de_json(one_update(seeded.bot_token, users[i], codes[i], 100 + i))
               for i in range(2 * args.updates + 10)]
    for update in updates[:10]:  # warm-up: imports, pools, caches
        dispatcher.dispatch(update)

    # The emulator runs in this process too, in threads of its own: the dispatching thread's CPU
    # clock (time.thread_time) counts the update's work only, replies included.
    timed = updates[10 : 10 + args.updates]
    with app.app_context(), counting_statements(db.engine) as statements:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        for update in timed:
            dispatcher.dispatch(update)
        wall1, cpu1 = time.perf_counter(), time.thread_time()
    total_cpu = cpu1 - cpu0

    profiler = cProfile.Profile(time.thread_time)  # CPU, not time spent waiting on the network
    profiled = updates[10 + args.updates :]
    profiler.enable()
    for update in profiled:
        dispatcher.dispatch(update)
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_package: Counter = Counter()
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        by_package[package_of(filename)] += own
    profiled_total = sum(by_package.values())
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.top)
    dispatcher.close()
    sent = len([m for m in emu.sent_messages() if "Code accepted" in (m.get("text") or "")])
    emu.stop()

    n = len(timed)
    per_update = total_cpu / n
    shares = ", ".join(
        f"{name} {100 * t / profiled_total:.0f}%"
        for name, t in by_package.most_common(8) if name != "tests"
    )
    rows = [
        Row("activation updates confirmed", f"{sent} of {len(updates)}", "all",
            sent == len(updates), check=True),
        Row("CPU per activation update (the handling thread; the emulator excluded)",
            f"{per_update * 1000:.1f} ms", "≤ 6 ms", per_update <= 0.006),
        Row("SQL statements per update (commits not counted)", f"{statements.count / n:.1f}"),
        Row("database transactions per update (commits and rollbacks)",
            f"{statements.transactions / n:.1f}"),
        Row("wall time per update, one at a time", f"{(wall1 - wall0) / n * 1000:.1f} ms"),
        Row("where the CPU goes (own time by package, profiled run)", shares),
    ]
    notes = [f"profile, top {args.top} by own time:\n\n```\n{text.getvalue()[-6000:]}\n```"]
    report("CPU per update", rows, args, notes=notes, load_before=load_before)
    with app.app_context():
        db.engine.dispose()
    return rows


if __name__ == "__main__":
    run_cli(main)
