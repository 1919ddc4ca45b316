"""The invariant over a longer random month: the suite's test (tests/test_invariant_e2e.py) at
length, against the real bot, worker and cron processes and the Bot API emulator.

Each seed plays ``--events`` random events (activations, extensions, overlapping plans,
rollbacks during activations, joins, leaves, blocks, outages on every Bot API method it uses)
over a simulated month, then checks that every chat holds exactly the people the database
entitles, that each customer read one confirmation per confirmation sent, and that every owner
notice arrived. A failing seed is printed; replay it with ``--seeds N``.

    python -m bench.invariant [--quick] [--events 400] [--seeds 1,2,3]
"""

from __future__ import annotations

import random
import time

from bench import (
    ROOT,
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
)
from bench.processes import emulator


def _args(parser):
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--seeds", default="", help="comma-separated seeds (default: 3 random)")


def main(argv=None) -> list[Row]:
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests import invariant
    from webapp.extensions import db

    args = parse_args(__doc__.splitlines()[0], argv, _args)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        seeds = [random.SystemRandom().randrange(10**6) for _ in range(1 if args.quick else 3)]
    if args.quick:
        args.events = 15
    load_before = load_average()
    from tests.conftest import TEST_TOKEN_KEY

    # The processes run with the tests' environment (tests.bot_process.bot_env): the same keys
    # here, or they cannot read the bot token this process stores.
    app = bench_app(database_url(), SECRET_KEY="test-secret", TOKEN_ENCRYPTION_KEYS=TEST_TOKEN_KEY)
    rows: list[Row] = []
    notes: list[str] = []
    for seed in seeds:
        fresh_database(app)
        fresh_redis()
        emu = emulator()
        began = time.monotonic()
        try:
            with app.app_context():
                found, _ = invariant.run(
                    seed, args.events, app, emu, database_url(), redis_url(), bench_now()
                )
                db.session.remove()
        finally:
            emu.stop()
        took = time.monotonic() - began
        rows.append(
            Row(
                f"seed {seed}, {args.events} events: the invariant",
                "holds" if not found else f"{len(found)} violation(s)",
                "holds",
                not found,
                check=True,
            )
        )
        rows.append(Row(f"seed {seed}: wall time", f"{took:.0f} s"))
        notes += [f"seed {seed}: {v}" for v in found]
    with app.app_context():
        db.engine.dispose()
    report("Invariant over a random month", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
