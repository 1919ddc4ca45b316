"""Bot tokens are encrypted at rest: a dump of the database does not control any bot."""

import os

import pytest
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, make_url, text

from tests.conftest import ROOT, TEST_TOKEN_KEY
from tests.dashboard_helpers import data, fetch
from tests.factories import make_owner, make_project
from webapp import create_app, token_crypto
from webapp.config import normalize_database_url
from webapp.extensions import db
from webapp.models import Project

TOKEN = "7000123:AAEhBP0av28LuLVeCMO3KNBSpe7n5YjNS9A"
OTHER = "7000456:AAGsecretsecretsecretsecretsecret12"
BEFORE = "languages_01"  # the last revision with plain-text tokens


def _raw_tokens(app) -> list[str]:
    with app.app_context(), db.engine.connect() as conn:
        return list(conn.execute(text("SELECT bot_token FROM project ORDER BY id")).scalars())


def test_a_stored_token_is_unreadable_in_the_database_and_plain_in_the_app(app):
    with data(app):
        project_id = make_project(bot_token=TOKEN, bot_user_id=7000123).id
    [raw] = _raw_tokens(app)
    assert TOKEN not in raw
    assert "AAEhBP0av28" not in raw
    assert token_crypto.is_encrypted(raw)
    assert fetch(app, Project, project_id).bot_token == TOKEN


def test_a_database_opened_without_the_key_reveals_no_token(app_config, app):
    with data(app):
        make_project(bot_token=TOKEN, bot_user_id=7000123)
    stranger = create_app({**app_config, "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode()})
    try:
        with stranger.app_context(), pytest.raises(token_crypto.TokenKeyError, match="no key"):
            db.session.query(Project).one().bot_token  # noqa: B018
    finally:
        with stranger.app_context():
            db.session.remove()
            db.engine.dispose()
        token_crypto.configure(TEST_TOKEN_KEY)


def test_rotation_re_encrypts_every_token_so_the_old_key_can_go(app_config, app):
    with data(app):
        make_project(bot_token=TOKEN, bot_user_id=7000123)
        make_project(bot_token=OTHER, bot_user_id=7000456)
    before = _raw_tokens(app)
    new_key = Fernet.generate_key().decode()
    # The keys are the process's (one deployment, one setting): each app here replaces them.
    rotating = create_app({**app_config, "TOKEN_ENCRYPTION_KEYS": f"{new_key},{TEST_TOKEN_KEY}"})
    only_new = None
    try:
        result = rotating.test_cli_runner().invoke(args=["tokens", "rotate"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 2 bot tokens." in result.output
        after = _raw_tokens(rotating)
        assert set(after).isdisjoint(before)
        only_new = create_app({**app_config, "TOKEN_ENCRYPTION_KEYS": new_key})
        with only_new.app_context():
            tokens = db.session.scalars(db.select(Project.bot_token).order_by(Project.id)).all()
        assert tokens == [TOKEN, OTHER]
    finally:
        for extra in filter(None, (rotating, only_new)):
            with extra.app_context():
                db.session.remove()
                db.engine.dispose()
        token_crypto.configure(TEST_TOKEN_KEY)


def test_heroku_s_generated_hex_secret_is_a_usable_key():
    token_crypto.configure("ab" * 32 + "," + TEST_TOKEN_KEY)
    try:
        assert token_crypto.decrypt(token_crypto.encrypt(TOKEN)) == TOKEN
    finally:
        token_crypto.configure(TEST_TOKEN_KEY)
    with pytest.raises(token_crypto.TokenKeyError, match="neither a Fernet key"):
        token_crypto.parse_keys("not a key")


def test_a_bot_already_live_in_a_project_under_another_token_cannot_be_added_again(
    app, client, logged_in_owner
):
    with data(app) as session:
        make_project(make_owner("eve@example.com"), bot_token=TOKEN, bot_user_id=7000123)
        session.flush()
    regenerated = "7000123:AAFnewnewnewnewnewnewnewnewnewnew123"
    response = client.post("/projects/new", data={"name": "Mine", "bot_token": regenerated})
    assert response.status_code == 400
    assert "This bot is already connected to a project." in response.get_data(as_text=True)


# -- The data migration, on real rows -----------------------------------------------------------


@pytest.fixture
def scratch_database_url(tmp_path):
    """An empty database of the kind under test, for migrating by hand."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'migration.sqlite3'}"
        return
    url = make_url(normalize_database_url(server))
    name = f"{url.database}_migration"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_migration_encrypts_existing_plain_tokens_and_the_downgrade_restores_them(
    app_config, scratch_database_url
):
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": scratch_database_url})
    migrations = str(ROOT / "migrations")
    try:
        with app.app_context():
            upgrade(directory=migrations, revision=BEFORE)
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO owner (id, email, password_hash, timezone, created_at) "
                        "VALUES (1, 'ann@example.com', 'x', 'UTC', '2026-01-01 00:00:00')"
                    )
                )
                for n, (token, bot_id) in enumerate([(TOKEN, 7000123), (OTHER, 7000456)], 1):
                    conn.execute(
                        text(
                            "INSERT INTO project (id, owner_id, name, bot_token, bot_user_id, "
                            "bot_username, created_at) VALUES (:id, 1, 'P', :token, :bot, "
                            "'SomeBot', '2026-01-01 00:00:00')"
                        ),
                        {"id": n, "token": token, "bot": bot_id},
                    )
            upgrade(directory=migrations)
        raw = _raw_tokens(app)
        assert TOKEN not in raw and OTHER not in raw
        assert all(token_crypto.is_encrypted(value) for value in raw)
        with app.app_context():
            projects = db.session.scalars(db.select(Project).order_by(Project.id)).all()
            assert [p.bot_token for p in projects] == [TOKEN, OTHER]
            assert len({p.bot_token_digest for p in projects}) == 2
            db.session.remove()
            downgrade(directory=migrations, revision=BEFORE)
        assert _raw_tokens(app) == [TOKEN, OTHER]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
