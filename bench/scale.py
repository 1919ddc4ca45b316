"""The bot tier at scale: 1,000 bots, in polling mode with 1 and 2 bot processes and in webhook
mode with 2 web (gunicorn) and 2 worker processes — and, to compare, "webhook-inline": 4 web
processes handling each update inside its request — against the Bot API emulator in this process.

Two bursts per setup: one ``/start <code>`` to every bot at once, then many at once to one bot
(its answers are paced to 28/s by webapp.throttle, so that burst measures pacing, not capacity).
Every customer must get exactly one confirmation. Figures: time from the first update to the last
answer, update → answer p50/p95, CPU per update of the whole tier (from /proc, every process of
it), RSS and open file descriptors per process, idle and after the bursts.

    python -m bench.scale [--quick] [--bots 1000] [--one-bot 300]
                          [--setups polling-1,polling-2,webhook]
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import (
    ROOT,
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
    redis_url,
    report,
    run_cli,
)
from bench.memory import children, mib, vm_rss_kib
from bench.processes import Process, emulator, process_env, wait_until
from webapp.queues import redis_from_url

CONFIRMATION = "Code accepted"
TICKS = os.sysconf("SC_CLK_TCK")


def _args(parser):
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--one-bot", type=int, default=300, help="the burst on one bot")
    parser.add_argument("--setups", default="polling-1,polling-2,webhook")
    parser.add_argument("--timeout", type=float, default=240)


# --- the world --------------------------------------------------------------------------------


def seed(app, bots: int, one_bot: int, now):
    """One owner, ``bots`` projects with a channel and a plan each; codes for both bursts."""
    from werkzeug.security import generate_password_hash

    from webapp.domain.codes import MAX_BATCH, CodeRequest, create_codes
    from webapp.extensions import db
    from webapp.models import Owner, Plan, Project, Resource

    with app.app_context():
        owner = Owner(email="scale@example.com", password_hash=generate_password_hash("x"),
                      created_at=now)
        db.session.add(owner)
        projects = []
        for n in range(1, bots + 1):
            project = Project(owner=owner, name=f"Scale {n}", bot_token=f"{950000 + n}:SCALE-{n}",
                              bot_user_id=950000 + n, bot_username=f"Scale{n}Bot", created_at=now)
            resource = Resource(project=project, chat_id=-1009500000000 - n, title=f"Scale {n}",
                                chat_type="channel", can_invite_users=True,
                                can_restrict_members=True, bot_is_admin=True)
            plan = Plan(project=project, name="3 months", period_unit="month", period_count=3,
                        resources=[resource], created_at=now)
            db.session.add_all([project, resource, plan])
            projects.append((project, plan))
        db.session.flush()
        codes: dict[str, list[str]] = {}
        for index, (project, plan) in enumerate(projects):
            wanted = 3 + (3 * one_bot if index == 0 else 0)  # three bursts' worth
            made: list[str] = []
            while len(made) < wanted:
                req = CodeRequest(plan.id, 1, None, count=min(MAX_BATCH, wanted - len(made)))
                _, new = create_codes(db.session, project.id, req, owner_id=None, now=now)
                made += [c.code for c in new]
            codes[project.bot_token] = made
        tokens = [p.bot_token for p, _ in projects]
        db.session.commit()
        db.session.remove()
    return tokens, codes


def telegram_world(emu, tokens: list[str]) -> None:
    for n, token in enumerate(tokens, start=1):
        emu.add_bot(token, username=f"Scale{n}Bot", first_name="Scale")
        emu.add_chat(-1009500000000 - n, "channel", title=f"Scale {n}")
        emu.set_chat_admin(-1009500000000 - n, 950000 + n, can_invite_users=True,
                           can_restrict_members=True)


# --- processes --------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return -1


def describe(tier: dict[str, list[int]]) -> str:
    parts = []
    for name, pids in tier.items():
        for pid in pids:
            parts.append(f"{name} {mib(vm_rss_kib(pid))}, {fds(pid)} fds, {threads(pid)} threads")
    total = sum(vm_rss_kib(p) or 0 for pids in tier.values() for p in pids)
    return "; ".join(parts) + f" — total {mib(total)}"


def start_gunicorn(port: int, env: dict, workers: int = 2) -> subprocess.Popen:
    bindir = os.path.dirname(sys.executable)
    return subprocess.Popen(
        [os.path.join(bindir, "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--no-control-socket", "webapp:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- one setup --------------------------------------------------------------------------------


def burst(emu, work: list[tuple[str, int, str]], timeout: float) -> dict:
    injected: dict[int, float] = {}
    for token, user_id, code in work:
        injected[user_id] = time.time()
        emu.send_message(token, user_id, f"/start {code}")
    first = min(injected.values())

    found: dict[tuple, dict] = {}
    cursor = {"since": first - 1}

    def confirmations():
        # Only what is new since the last look: copying every message the emulator holds,
        # under its lock, five times a second, slowed the emulator and so the run it measures.
        for m in emu.sent_messages(since=cursor["since"]):
            cursor["since"] = max(cursor["since"], m["_at"] - 1)
            if m["chat"]["id"] in injected and CONFIRMATION in (m.get("text") or ""):
                found[(m["chat"]["id"], m["message_id"])] = m
        return sorted(found.values(), key=lambda m: m["_at"])

    with contextlib.suppress(TimeoutError):  # what is missing shows in the figures
        wait_until(lambda: len({m["chat"]["id"] for m in confirmations()}) >= len(work),
                   timeout, "every answer", 0.2)
    time.sleep(1)  # anything doubled comes a moment after the rest
    got = confirmations()
    per_chat = Counter(m["chat"]["id"] for m in got)
    first_answer: dict[int, float] = {}
    for m in got:
        first_answer.setdefault(m["chat"]["id"], m["_at"])
    latencies = [at - injected[u] for u, at in first_answer.items()]
    last = max(first_answer.values(), default=first)
    return {
        "answered": len(first_answer), "doubled": sum(1 for c in per_chat.values() if c > 1),
        "total": len(work), "seconds": last - first, "latencies": latencies,
    }


def one_setup(app, setup: str, tokens, codes, args) -> tuple[list[Row], list[str]]:
    from webapp import telegram

    emu = emulator()
    telegram.configure(emu.url)
    telegram_world(emu, tokens)
    users = iter(range(20_000_000, 30_000_000))
    for token in tokens:
        codes[token] = list(codes[token])
    rows: list[Row] = []
    notes: list[str] = []
    mode, _, count = setup.partition("-")
    tier: dict[str, list[int]] = {}
    procs: list = []
    env = process_env(emu.url, BOT_RELOAD_SECONDS="2", BOT_TICK_SECONDS="1", BOT_POLL_TIMEOUT="20",
                      BOT_LEASE_SECONDS="10")
    try:
        if mode == "polling":
            env["BOT_MODE"] = "polling"
            bots = [Process("bot", env) for _ in range(int(count))]
            procs += bots
            for bot in bots:
                bot.wait_for_log("membership bot started")
            tier["bot"] = [b.pid for b in bots]
            from bot.fleet import PollerLeases
            from webapp.throttle import bot_id_of

            redis = redis_from_url(redis_url())
            leases = PollerLeases(redis, "bench-observer")  # reads only: never announces itself
            lease_keys = {bot_id_of(t): PollerLeases.lease_key(bot_id_of(t)) for t in tokens}
            stable = {"last": None, "since": time.monotonic()}

            def settled():
                # Settled is every bot held by the process rendezvous hashing gives it. Not "each
                # process holds some": with few bots one process may rightly win them all (4 bots,
                # 2 processes: 1 run in 8), and that wait never ended.
                live = leases.live_processes()
                held = dict(zip(lease_keys, redis.mget(list(lease_keys.values())), strict=True))
                if held != stable["last"]:
                    stable.update(last=held, since=time.monotonic())
                return (len(live) == len(bots)
                        and all(v is not None and v.decode() == PollerLeases.winner(b, live)
                                for b, v in held.items())
                        and time.monotonic() - stable["since"] > 4)

            wait_until(settled, args.timeout, "every bot leased by its process, shares settled",
                       0.5)
            shares = sorted(Counter(stable["last"].values()).values())
            notes.append(f"{setup}: bots per process {shares}")
        else:
            port = free_port()
            inline = count == "inline"
            env.update(BOT_MODE="webhook", PUBLIC_URL=f"http://127.0.0.1:{port}",
                       WEBHOOK_HANDLING="inline" if inline else "queue")
            web = start_gunicorn(port, env, workers=4 if inline else 2)
            procs.append(web)
            workers = [] if inline else [Process("webapp.worker", env) for _ in range(2)]
            procs += workers
            import requests

            wait_until(lambda: _answers(requests, port), 60, "gunicorn")
            from webapp.webhook import registration

            app.config.update(BOT_MODE="webhook", PUBLIC_URL=f"http://127.0.0.1:{port}",
                              TELEGRAM_API_URL=emu.url)
            started = time.monotonic()
            with app.app_context():
                counts = registration.sync_webhooks(app, redis_from_url(redis_url()))
            notes.append(f"webhook: {counts['set']} webhooks set in "
                         f"{time.monotonic() - started:.1f} s ({counts['failed']} failed)")
            tier["web"] = tree(web.pid)
            if workers:
                tier["worker"] = [w.pid for w in workers]
        time.sleep(3)
        rows.append(Row(f"{setup}: idle, per process", describe(tier)))
        pids = [p for ps in tier.values() for p in ps]
        for name, work in (
            (f"one /start to each of {len(tokens):,} bots",
             [(t, next(users), codes[t].pop()) for t in tokens]),
            (f"{args.one_bot:,} /start to one bot",
             [(tokens[0], next(users), codes[tokens[0]].pop()) for _ in range(args.one_bot)]),
        ):
            for user_id in {u for _, u, _ in work}:
                emu.add_user(user_id, "Ann", "Lee")
            cpu_before = cpu_seconds(pids)
            result = burst(emu, work, args.timeout)
            cpu = cpu_seconds(pids) - cpu_before
            ok = result["answered"] == result["total"] and result["doubled"] == 0
            lat = result["latencies"]
            rate = result["answered"] / max(result["seconds"], 1e-9)
            rows += [
                Row(f"{setup}, {name}: answered / doubled",
                    f"{result['answered']:,} of {result['total']:,} / {result['doubled']}",
                    "all, 0", ok, check=True),
                Row(f"{setup}, {name}: first update → last answer",
                    f"{result['seconds']:.1f} s ({rate:.0f}/s)",
                    "≤ 10 s" if "each of" in name else "", (result["seconds"] <= 10)
                    if "each of" in name else None),
                Row(f"{setup}, {name}: update → answer p50 / p95",
                    f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 95))}"),
                Row(f"{setup}, {name}: CPU per update (whole tier)",
                    f"{cpu / max(result['total'], 1) * 1000:.1f} ms"),
            ]
        rows.append(Row(f"{setup}: after the bursts, per process", describe(tier)))
    finally:
        for proc in procs:
            if isinstance(proc, Process):
                proc.stop()
            else:
                proc.terminate()
                proc.wait(30)
        emu.stop()
    return rows, notes


def _answers(requests, port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv, _args)
    if args.quick:
        args.bots, args.one_bot, args.timeout = 4, 5, 90
    load_before = load_average()
    app = bench_app(database_url(), pool_size=5)
    rows: list[Row] = []
    notes = [
        f"Redis {redis_url()}; the emulator (1 process, threads) shares the 2 cores with the tier",
        "the one-bot burst is paced to 28 messages/s by webapp.throttle: its time is the pacing",
    ]
    for setup in args.setups.split(","):
        fresh_database(app)
        fresh_redis()
        tokens, codes = seed(app, args.bots, args.one_bot, bench_now())
        more_rows, more_notes = one_setup(app, setup, tokens, codes, args)
        rows += more_rows
        notes += more_notes
    with app.app_context():
        from webapp.extensions import db

        db.engine.dispose()
    report(f"Bot tier at scale ({args.bots:,} bots)", rows, args, notes=notes,
           load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
