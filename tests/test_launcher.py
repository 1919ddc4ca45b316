"""``make run``: every process up, on 127.0.0.1, the URL printed last, and a clean stop.

Each test starts the real launcher (gunicorn, bot, worker, cron, sandbox and the embedded Redis)
on free ports and a database of its own, then stops it the way a person or a machine would.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
START_TIMEOUT = 240
STOP_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def wait_until(condition, timeout: float, what: str, left=None):
    """Poll ``condition``; on timeout, fail saying what was awaited (and ``left()``, if given)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what}" + (f": {left()}" if left else "")
        )
        time.sleep(0.2)


def survivors(run) -> list[str]:
    return [f"{p} {cmdline(p)[:120]}" for p in run.processes if alive(p)]


def listening_addresses(port: int) -> set[str]:
    """The local addresses something listens on at ``port`` (IPv4, from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if fields[3] == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


class Run:
    """One ``make run`` (or launcher) in its own process group, its output collected."""

    def __init__(self, argv, env):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if line.startswith("Admit is running:"):
                self.ready.set()

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready.wait(1):
            assert self.proc.poll() is None, "\n".join(self.lines[-40:])
            assert time.monotonic() < deadline, "\n".join(self.lines[-40:])

    def launcher_pid(self) -> int:
        if Path(self.proc.args[0]).name == "make":
            (pid,) = [p for p in children_of(self.proc.pid) if "webapp.launcher" in cmdline(p)]
            return pid
        return self.proc.pid

    def output(self) -> str:
        return "\n".join(self.lines)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def run_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("launcher")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "ADMIT_"))}
    env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = f"sqlite:///{folder / 'admit.sqlite3'}"
    subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return env


@pytest.fixture
def launch(run_env):
    runs = []

    def start(make: bool = False) -> Run:
        env = dict(run_env, PORT=str(free_port()), BOT_RELOAD_SECONDS="60")
        env["SANDBOX_API_URL"] = f"http://127.0.0.1:{free_port()}"
        if make:
            # -o: never rebuild the virtualenv from a test; it is shared.
            argv = ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "run"]
        else:
            argv = [sys.executable, "-m", "webapp.launcher"]
        run = Run(argv, env)
        runs.append(run)
        run.env = env
        run.wait_ready()
        run.processes = children_of(run.launcher_pid()) | {run.launcher_pid()}
        return run

    yield start
    for run in runs:  # a failed test must not leave a dashboard behind
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        for pid in getattr(run, "processes", ()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_make_run_listens_on_localhost_and_prints_the_url_last_once_every_process_answers(launch):
    import requests

    run = launch()
    port = int(run.env["PORT"])
    assert listening_addresses(port) == {"127.0.0.1"}
    last = [line for line in run.lines if line.strip()][-1]
    assert last.strip() == f"Admit is running: http://127.0.0.1:{port}  (Ctrl-C stops everything)"
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"ok": True}
    assert requests.get(f"{run.env['SANDBOX_API_URL']}/_emulator/now", timeout=5).json()["ok"]
    names = {cmdline(p).split()[0].rsplit("/", 1)[-1] for p in run.processes}
    assert {"gunicorn:", "redis-server"} & names or any(
        "redis-server" in cmdline(p) for p in run.processes
    )


def test_sigterm_to_the_launcher_stops_every_process_and_the_embedded_redis(launch):
    run = launch()
    assert any("redis-server" in cmdline(p) for p in run.processes)
    assert any("gunicorn" in cmdline(p) for p in run.processes)
    os.kill(run.launcher_pid(), signal.SIGTERM)
    assert run.proc.wait(STOP_TIMEOUT) == 0
    wait_until(lambda: not any(alive(p) for p in run.processes), STOP_TIMEOUT,
               "every process to stop", lambda: survivors(run))


def test_nothing_outlives_a_launcher_killed_outright(launch):
    run = launch()
    os.kill(run.launcher_pid(), signal.SIGKILL)
    run.proc.wait(STOP_TIMEOUT)
    wait_until(lambda: not any(alive(p) for p in run.processes), STOP_TIMEOUT,
               "every process to die with the launcher", lambda: survivors(run))


def test_ctrl_c_under_make_stops_everything_without_make_reporting_an_error(launch):
    run = launch(make=True)
    os.killpg(run.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    # make, interrupted itself, ends by SIGINT as a shell expects of Ctrl-C; what it must not do
    # is report the launcher as failed ("Error 130"), which it does when the launcher exits 130.
    assert run.proc.wait(STOP_TIMEOUT) in (0, -signal.SIGINT), run.output()[-2000:]
    wait_until(lambda: not any(alive(p) for p in run.processes), STOP_TIMEOUT,
               "every process to stop", lambda: survivors(run))
    assert "Error" not in run.output() and "Interrupt" not in run.output()


def test_sigterm_to_make_stops_every_process(launch):
    run = launch(make=True)
    os.kill(run.proc.pid, signal.SIGTERM)
    run.proc.wait(STOP_TIMEOUT)
    wait_until(lambda: not any(alive(p) for p in run.processes), STOP_TIMEOUT,
               "every process to stop after make was terminated")
