"""Configuration comes only from the environment."""

import pytest

from webapp.config import Config, normalize_database_url


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
