"""The real ``python -m bot`` process against the Bot API emulator, for end-to-end tests.

Import the fixtures into a test module (they are named ``emu`` and ``bot_process``)::

    from tests.bot_process import bot_process_fixture, emu_fixture  # noqa: F401

``emu`` is one emulator per module; ``bot_process`` one bot process per module (it picks up the
projects each test creates within ``BOT_RELOAD_SECONDS``). Tests use their own tokens, users and
chats, so they do not see each other's traffic.
"""

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_TOKEN_KEY
from webapp.telegram_emulator import BotApiEmulator

ROOT = Path(__file__).resolve().parent.parent
_ids = itertools.count(1)


def unique_id() -> int:
    """A number no other test in this run uses (for tokens, users and chats)."""
    return next(_ids) + os.getpid() % 1000 * 1000


class BotProcess:
    """``python -m bot`` as a subprocess, with its log kept in a file for failure messages."""

    def __init__(self, env: dict):
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="admit-bot-", suffix=".log")[1])

    def start(self) -> "BotProcess":
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open while the process runs
        since = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        # Until its signal handlers are in place a SIGTERM would kill it rather than stop it.
        wait_until(
            lambda: "membership bot started" in self.log(since) or self.proc.poll() is not None,
            timeout=30,
            what="the bot process to start",
        )
        assert self.proc.poll() is None, self.log()
        return self

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; the exit code (a kill after ``timeout`` fails loudly)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"bot did not stop on SIGTERM:\n{self.log()}") from None
        finally:
            self._log.close()
        self.proc = None
        return code

    def crash(self) -> None:
        """SIGKILL: no clean-up, no confirmation of handled updates."""
        self.proc.kill()
        self.proc.wait()
        self._log.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, since: int = 0) -> str:
        """The process's output (from byte ``since``), at most the last 6000 characters."""
        with open(self.log_path, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")[-6000:]


def bot_env(database_url: str, redis_url: str, api_url: str) -> dict:
    env = dict(os.environ)
    for name in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TELEGRAM_API_URL=api_url,
        SECRET_KEY="test-secret",
        ADMIT_ENV="test",
        TOKEN_ENCRYPTION_KEYS=TEST_TOKEN_KEY,
        ADMIT_FAKE_CLOCK="1",  # the test's clock, which the ``app`` fixture sets
        BOT_RELOAD_SECONDS="0.3",
        # A crashed process's bots are taken over once its leases run out: quickly in tests.
        BOT_LEASE_SECONDS="2",
        BOT_POLL_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module", name="emu")
def emu_fixture():
    from tests.conftest import NOW

    emulator = BotApiEmulator(clock_start=NOW.timestamp()).start()
    yield emulator
    emulator.stop()
    assert emulator.spec_violations() == [], "calls the Bot API specification does not allow"


@pytest.fixture(scope="module", name="bot_process")
def bot_process_fixture(emu, migrated, redis_url):
    process = BotProcess(bot_env(migrated, redis_url, emu.url)).start()
    yield process
    if process.running:
        code = process.stop()
        assert code == 0, f"exit code {code}\n{process.log()}"
    process.log_path.unlink(missing_ok=True)


def wait_until(condition, timeout: float = 10, what: str = "condition"):
    """Poll ``condition`` (e.g. a database read) until truthy; the value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def wait_polling(emu, token: str, timeout: float = 10) -> None:
    """Until the bot process polls ``token`` (it has picked the project up)."""
    emu.wait_for(
        lambda e: e.calls(token=token, method="getUpdates"),
        timeout,
        description=f"getUpdates from {token.split(':')[0]}",
    )


def wait_handled(emu, token: str, update_id: int, timeout: float = 10) -> None:
    """Until the bot confirmed ``update_id`` (asked for a later offset): it has been handled."""

    def confirmed(e):
        return any(
            int(call["params"].get("offset") or 0) > update_id
            for call in e.calls(token=token, method="getUpdates")
        )

    emu.wait_for(confirmed, timeout, description=f"update {update_id} handled")
