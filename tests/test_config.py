"""Configuration comes only from the environment."""

import pytest

from webapp.config import (
    DEV_SECRET_KEY,
    Config,
    normalize_database_url,
    secret_key_for,
    token_keys_for,
)

STRONG_KEY = "3f9a1c0e7b5d4a2f8e6c1b9d0a7f5e3c2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_accepts_the_heroku_form(given, expected):
    assert normalize_database_url(given) == expected


def test_production_refuses_to_start_without_a_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Config({"ADMIT_ENV": "production"})
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Config({"DYNO": "web.1"})


def test_production_cookies_are_secure_and_local_defaults_need_no_servers():
    prod = Config(
        {"ADMIT_ENV": "production", "SECRET_KEY": STRONG_KEY, "DATABASE_URL": "postgres://h/d"}
    )
    assert prod.SESSION_COOKIE_SECURE and prod.SESSION_COOKIE_HTTPONLY
    assert prod.SESSION_COOKIE_SAMESITE == "Lax"
    local = Config({})
    assert local.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert not local.SESSION_COOKIE_SECURE
    assert local.TELEGRAM_API_URL == "https://api.telegram.org"


def test_telegram_api_url_is_configurable():
    assert Config({"TELEGRAM_API_URL": "http://127.0.0.1:8081/"}).TELEGRAM_API_URL == (
        "http://127.0.0.1:8081"
    )


def test_the_development_key_is_only_for_the_local_sqlite_default():
    assert secret_key_for(None, "sqlite:////tmp/admit.sqlite3") == DEV_SECRET_KEY
    assert secret_key_for("set", "postgresql+psycopg://h/d") == "set"
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        secret_key_for(None, "postgresql+psycopg://db.example.com/admit")


def test_the_app_refuses_a_server_database_without_a_secret_key(monkeypatch):
    from webapp import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ADMIT_ENV", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example.com/admit")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


@pytest.mark.parametrize("weak", ["x", "secret", "a" * 64, DEV_SECRET_KEY, "0123456789" * 3])
def test_production_refuses_a_weak_secret_key(weak):
    with pytest.raises(RuntimeError, match="SECRET_KEY is too weak"):
        Config({"ADMIT_ENV": "production", "SECRET_KEY": weak})


@pytest.mark.parametrize("wrong", ["Production", "prod", "staging", "PRODUCTION", " production"])
def test_an_unknown_environment_name_is_refused_instead_of_meaning_development(wrong):
    with pytest.raises(RuntimeError, match="ADMIT_ENV must be one of development, test, produ"):
        Config({"ADMIT_ENV": wrong, "SECRET_KEY": STRONG_KEY})


@pytest.mark.parametrize(
    ("name", "value"),
    [("SESSION_IDLE_MINUTES", "soon"), ("SESSION_MAX_DAYS", "0"), ("TRUSTED_PROXIES", "-1")],
)
def test_a_number_setting_that_is_not_a_usable_number_is_refused_by_name(name, value):
    with pytest.raises(RuntimeError, match=name):
        Config({name: value})


def test_production_requires_token_encryption_keys_and_development_keeps_a_local_one(tmp_path):
    with pytest.raises(RuntimeError, match="TOKEN_ENCRYPTION_KEYS"):
        token_keys_for(None, "production", tmp_path / "key")
    key_file = tmp_path / "instance" / "token-encryption-key"
    first = token_keys_for(None, "development", key_file)
    assert key_file.stat().st_mode & 0o077 == 0
    assert token_keys_for(None, "development", key_file) == first
    assert token_keys_for("given", "production", key_file) == "given"


def test_webhook_updates_are_handled_in_the_request_unless_the_queue_is_asked_for():
    assert Config({}).WEBHOOK_HANDLING == "inline"
    assert Config({"WEBHOOK_HANDLING": "Queue"}).WEBHOOK_HANDLING == "queue"
    with pytest.raises(RuntimeError, match="WEBHOOK_HANDLING must be inline or queue"):
        Config({"WEBHOOK_HANDLING": "rq"})
