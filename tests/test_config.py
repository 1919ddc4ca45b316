"""Configuration comes only from the environment."""

import pytest

from webapp.config import DEV_SECRET_KEY, Config, normalize_database_url, secret_key_for


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
    prod = Config({"ADMIT_ENV": "production", "SECRET_KEY": "s", "DATABASE_URL": "postgres://h/d"})
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
