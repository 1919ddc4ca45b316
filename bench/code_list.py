"""The code list at scale: 1,000,000 codes in one project, read through gunicorn.

Seeds the codes in SQL, starts the web process as the Procfile does (gunicorn, 2 sync workers),
logs in as the owner, checks each page shows what it should, then loads each URL from a second
process (``wrk`` when installed, else ``bench.loadgen``) with as many connections as workers:
the first page, a page half-way down the list (keyset cursor), a status-filtered page, a
search for one code, and (the worst case) a filter that matches no code.

    python -m bench.code_list [--quick] [--codes 1000000] [--duration 10] [--tool wrk|python]
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode

from bench import (
    BENCH_PASSWORD,
    ROOT,
    Row,
    bench_app,
    bench_now,
    database_url,
    fresh_database,
    load_average,
    parse_args,
    redis_url,
    report,
    run_cli,
    seed_codes,
    seed_project,
)
from bench.memory import peak_rss_row
from webapp.config import token_keys_for

WORKERS = 2  # the Procfile's WEB_CONCURRENCY default

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "non_200": %d, "errors": %d,'
    .. ' "p50": %d, "p95": %d, "p99": %d, "max": %d}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _args(parser):
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per URL")
    parser.add_argument("--tool", choices=["wrk", "python"], default=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url(),
        # Production settings need a strong key, and the token key the bench's data was made with.
        "SECRET_KEY": secrets.token_hex(32),
        "TOKEN_ENCRYPTION_KEYS": token_keys_for(os.environ.get("TOKEN_ENCRYPTION_KEYS"), "test"),
        "ADMIT_ENV": "production",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    bindir = os.path.dirname(sys.executable)
    return subprocess.Popen(
        [
            os.path.join(bindir, "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--access-logfile",
            "-",
            "--no-control-socket",  # the bench's gunicorn must not meet anyone else's socket
            "webapp:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_http(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read()[-2000:]}")
        try:
            if requests.get(f"{base}/login", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer in time")


def log_in(base: str, email: str) -> str:
    """The owner's session cookie, got through the real login form.

    The web runs with production settings, so its cookies are ``Secure``: they are carried by
    hand here, over plain HTTP on the loopback.
    """
    import requests

    form = requests.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)
    answer = requests.post(
        f"{base}/login",
        data={"csrf_token": token.group(1), "email": email, "password": BENCH_PASSWORD},
        headers={"Cookie": f"session={form.cookies['session']}"},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"login failed: {answer.status_code}")
    return f"session={answer.cookies['session']}"


def targets(app, seeded, now) -> list[tuple[str, str, str]]:
    """(label, path, text the page must show) for each measured page."""
    from sqlalchemy import func, select

    from webapp.domain.code_queries import Cursor
    from webapp.extensions import db
    from webapp.models import AccessCode

    with app.app_context():
        order = (AccessCode.created_at.desc(), AccessCode.id.desc())
        total = db.session.scalar(select(func.count()).select_from(AccessCode))
        newest = db.session.scalars(select(AccessCode).order_by(*order).limit(1)).one()
        middle = db.session.scalars(
            select(AccessCode).order_by(*order).offset(total // 2).limit(2)
        ).all()
        used_up = db.session.scalars(
            select(AccessCode)
            .where(AccessCode.activation_count >= AccessCode.max_activations)
            .order_by(*order)
            .limit(1)
        ).one()
        sought = db.session.scalars(
            select(AccessCode).order_by(*order).offset(total * 3 // 4).limit(1)
        ).one()
        db.session.remove()
    deep = Cursor.of(middle[0]).encode()
    return [
        ("first page", "/codes/", newest.code),
        (
            f"deep page (after code {total // 2:,})",
            f"/codes/?{urlencode({'after': deep})}",
            middle[1].code,
        ),
        ("filtered page (status: used up)", "/codes/?status=used_up", used_up.code),
        ("search for one code", f"/codes/?{urlencode({'q': sought.code})}", sought.code),
        # The worst case of a keyset walk: a filter nothing matches reads the project's whole
        # index (no code of the seed is rolled back).
        (
            "filter matching nothing (status: rolled back)",
            "/codes/?status=rolled_back",
            "No codes match",
        ),
    ]


def load(tool: str, url: str, cookie: str, duration: float, requests: int) -> dict:
    if tool == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        try:
            out = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{WORKERS}",
                    f"-d{max(1, round(duration))}s",
                    "--timeout",
                    "10s",
                    "-s",
                    script.name,
                    "-H",
                    f"Cookie: {cookie}",
                    url,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            os.unlink(script.name)
    else:
        command = [
            sys.executable,
            "-m",
            "bench.loadgen",
            url,
            "--cookie",
            cookie,
            "--connections",
            str(WORKERS),
            "--duration",
            str(duration),
        ]
        if requests:
            command += ["--requests", str(requests)]
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> list[Row]:
    import requests as http

    args = parse_args(__doc__.splitlines()[0], argv, _args)
    tool = args.tool or ("wrk" if shutil.which("wrk") else "python")
    quick_requests = 0
    if args.quick:
        args.codes, tool, quick_requests = 500, "python", 5
    load_before = load_average()
    now = bench_now()
    app = bench_app(database_url())
    fresh_database(app)
    from webapp.extensions import db

    with app.app_context():
        seeded = seed_project(db.session, now, email="bench-owner@example.com")
        db.session.commit()
        db.session.remove()
    seeded_s = seed_codes(app, seeded, args.codes, now)
    pages = targets(app, seeded, now)
    with app.app_context():
        db.engine.dispose()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(port)
    rows: list[Row] = []
    notes = [
        f"seeded {args.codes:,} codes in {seeded_s:.1f} s; load tool: {tool}, "
        f"{WORKERS} connections against {WORKERS} sync gunicorn workers"
    ]
    try:
        wait_for_http(base, web)
        cookie = log_in(base, "bench-owner@example.com")
        for label, path, must_show in pages:
            page = http.get(base + path, headers={"Cookie": cookie}, timeout=30)
            shown = page.status_code == 200 and must_show in page.text
            if args.quick and label != pages[0][0]:
                # --quick: the load tool once is enough to keep it working.
                rows.append(Row(f"{label}: right page", str(shown), "True", shown, check=True))
                continue
            result = load(tool, base + path, cookie, args.duration, quick_requests)
            clean = shown and result["non_200"] == 0 and result["errors"] == 0
            p95 = result["p95"] / 1000
            rows.append(
                Row(
                    f"{label}: p95 (p50, p99)",
                    f"{p95:.1f} ms ({result['p50'] / 1000:.1f}, {result['p99'] / 1000:.1f}); "
                    f"{result['requests'] / result['seconds']:.0f} req/s",
                    "< 100 ms",
                    p95 < 100,
                )
            )
            rows.append(
                Row(
                    f"{label}: right page, every answer 200",
                    f"{'shows' if shown else 'MISSING'} the expected code; "
                    f"{result['requests']} requests, {result['non_200']} non-200, "
                    f"{result['errors']} errors",
                    "all",
                    clean,
                    check=True,
                )
            )
        rows.append(peak_rss_row("web (gunicorn)", web.pid, with_children=True))
    finally:
        web.terminate()
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            web.kill()
    report("Code list at scale", rows, args, notes=notes, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
