"""Pages timed through the web process, as the benchmarks of the dashboard do.

Starts gunicorn as the Procfile does (2 sync workers, production settings), logs in through the
real form, checks each page shows what it should, then loads each URL from a second process
(``wrk`` when installed, else ``bench.loadgen``) with as many connections as workers, and turns
each into two rows: the time (p95 against < 100 ms, the machine's load beside it) and the check
that every answer was the right page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bench import BENCH_PASSWORD, ROOT, Row, database_url, redis_url
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


@dataclass(frozen=True)
class Page:
    """One measured URL: ``must_show`` is text the right page contains. A download (``rows``
    set) is timed to its first ``rows`` lines (the header and the first row), not to its end,
    from one connection: a worker goes on writing a download its client left until the socket
    refuses, which is the load tool's doing, not a person's, so the other worker takes the
    next one."""

    label: str
    path: str
    must_show: str
    rows: int = 0


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


@contextmanager
def web_process() -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn on a free port, answering: its base URL and process; stopped afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(port)
    try:
        wait_for_http(base, web)
        yield base, web
    finally:
        web.terminate()
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            web.kill()


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


def load(
    tool: str,
    url: str,
    cookie: str,
    duration: float,
    requests: int,
    first_lines: int = 0,
    connections: int = WORKERS,
) -> dict:
    """Load ``url`` for ``duration`` seconds (or ``requests`` requests) with ``connections``
    connections: requests, seconds, non_200, errors and latency percentiles in µs."""
    if tool == "wrk" and not first_lines:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        try:
            out = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{connections}",
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
            str(connections),
            "--duration",
            str(duration),
        ]
        if requests:
            command += ["--requests", str(requests)]
        if first_lines:
            command += ["--first-lines", str(first_lines)]
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def first_lines(base: str, path: str, cookie: str, count: int) -> tuple[int, str]:
    """The status and the first ``count`` lines of a download, the rest left unread."""
    import requests

    with requests.get(base + path, headers={"Cookie": cookie}, stream=True, timeout=30) as r:
        lines = []
        for line in r.iter_lines(decode_unicode=True):
            lines.append(line)
            if len(lines) >= count:
                break
        return r.status_code, "\n".join(lines)


def measure_pages(
    base: str,
    cookie: str,
    pages: Sequence[Page],
    tool: str,
    duration: float,
    quick_requests: int = 0,
    *,
    load_first_only: bool = False,
) -> list[Row]:
    """Two rows per page: its p95 (p50, p99), rate and the load average the machine had, and
    whether every answer was the right page. ``load_first_only`` (a ``--quick`` run) loads
    the first page only and checks the others once."""
    import requests as http

    rows: list[Row] = []
    for n, page in enumerate(pages):
        if page.rows:
            status, text = first_lines(base, page.path, cookie, page.rows)
        else:
            answer = http.get(base + page.path, headers={"Cookie": cookie}, timeout=30)
            status, text = answer.status_code, answer.text
        shown = status == 200 and page.must_show in text
        if load_first_only and n > 0:
            rows.append(Row(f"{page.label}: right page", str(shown), "True", shown, check=True))
            continue
        connections = 1 if page.rows else WORKERS
        result = load(
            tool, base + page.path, cookie, duration, quick_requests, page.rows, connections
        )
        busy = os.getloadavg()[0]
        clean = shown and result["non_200"] == 0 and result["errors"] == 0
        p95 = result["p95"] / 1000
        timed = f" (to its line {page.rows}, 1 connection)" if page.rows else ""
        rows.append(
            Row(
                f"{page.label}: p95 (p50, p99)",
                f"{p95:.1f} ms{timed} ({result['p50'] / 1000:.1f}, {result['p99'] / 1000:.1f}); "
                f"{result['requests'] / result['seconds']:.0f} req/s; load {busy:.2f}",
                "< 100 ms",
                p95 < 100,
            )
        )
        rows.append(
            Row(
                f"{page.label}: right page, every answer 200",
                f"{'shows' if shown else 'MISSING'} “{page.must_show}”; {result['requests']} "
                f"requests, {result['non_200']} non-200, {result['errors']} errors",
                "all",
                clean,
                check=True,
            )
        )
    return rows
