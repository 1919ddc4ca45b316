"""The real processes the benchmarks drive (bot, workers) and the Bot API emulator beside them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, bench_now, database_url, redis_url


def emulator():
    """The Bot API emulator of the test suite, started in this process (``tests`` importable)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from webapp.telegram_emulator import BotApiEmulator

    return BotApiEmulator(clock_start=bench_now().timestamp()).start()


def process_env(api_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url(),
        TELEGRAM_API_URL=api_url,
        SECRET_KEY="bench-secret",
        ADMIT_ENV="development",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    if os.environ.get("ADMIT_TEST_NOW"):
        env["ADMIT_FAKE_CLOCK"] = "1"  # the run's clock, set by fresh_redis()
    return env


class Process:
    """A ``python -m <module>`` child with its output in a log file (shown when it fails)."""

    def __init__(self, module: str, env: dict, *args: str):
        self.module = module
        self.log_path = Path(tempfile.mkstemp(prefix=f"bench-{module}-", suffix=".log")[1])
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open while the process runs
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        wait_until(
            lambda: text in self.log() or not self.alive(), timeout, f"{self.module}: {text}"
        )
        if not self.alive():
            raise RuntimeError(f"{self.module} exited:\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until truthy; its value, or TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
