"""Settings, read only from the environment."""

import os
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def normalize_database_url(url: str) -> str:
    """Heroku hands out ``postgres://``; SQLAlchemy with psycopg 3 needs ``postgresql+psycopg://``."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        default_env = "production" if env.get("DYNO") else "development"
        self.ADMIT_ENV = env.get("ADMIT_ENV") or default_env
        production = self.ADMIT_ENV == "production"
        secret = env.get("SECRET_KEY")
        if not secret and production:
            raise RuntimeError("SECRET_KEY must be set in production")
        self.SECRET_KEY = secret  # None here gets the development key in create_app, or a refusal
        default_db = f"sqlite:///{INSTANCE_DIR / 'admit.sqlite3'}"
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(env.get("DATABASE_URL") or default_db)
        self.REDIS_URL = env.get("REDIS_URL") or ""
        self.TELEGRAM_API_URL = (env.get("TELEGRAM_API_URL") or "https://api.telegram.org").rstrip(
            "/"
        )
        self.PUBLIC_URL = (env.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
        self.BOT_MODE = bot_mode(env.get("BOT_MODE"), self.PUBLIC_URL)
        # "queue" (RQ workers handle webhook updates) or "inline" (the web request does; slower
        # under bursts, see bench/RESULTS.md): only for measuring.
        self.WEBHOOK_HANDLING = env.get("WEBHOOK_HANDLING") or "queue"
        self.SANDBOX_ENABLED = sandbox_enabled(env.get("ADMIT_SANDBOX"), production)
        self.SANDBOX_API_URL = (env.get("SANDBOX_API_URL") or DEFAULT_SANDBOX_API_URL).rstrip("/")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = production
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = production
        self.WTF_CSRF_TIME_LIMIT = None
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI, env)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}


BOT_MODES = ("polling", "webhook")


def bot_mode(setting: str | None, public_url: str) -> str:
    """``BOT_MODE``, by default webhook when the dashboard has a public HTTPS address.

    Telegram delivers webhooks to HTTPS URLs only, so without one the bots poll.
    """
    mode = (setting or "").strip().lower()
    if not mode:
        return "webhook" if public_url.startswith("https://") else "polling"
    if mode not in BOT_MODES:
        raise RuntimeError(f"BOT_MODE must be polling or webhook, not {setting!r}")
    return mode


DEV_SECRET_KEY = "dev-insecure-secret-key"
DEFAULT_SANDBOX_API_URL = "http://127.0.0.1:8081"


def sandbox_enabled(setting: str | None, production: bool) -> bool:
    """The sandbox Telegram: on by default in development, off in production unless turned on.

    A production deployment only gets it when the operator says so (``ADMIT_SANDBOX=1``), since
    its projects talk to a fake Telegram that anyone with a dashboard account can drive.
    """
    if setting is None or setting.strip() == "":
        return not production
    return setting.strip().lower() in ("1", "true", "yes", "on")


def secret_key_for(secret: str | None, database_uri: str) -> str:
    """The key to sign sessions with: the development key only on the local SQLite default.

    A deployment that forgot ADMIT_ENV (not Heroku) would otherwise sign sessions with a key
    anyone can read here, and anyone could forge a log-in.
    """
    if secret:
        return secret
    if not database_uri.startswith("sqlite"):
        raise RuntimeError(
            "SECRET_KEY must be set when DATABASE_URL points at a server database "
            "(the development key is only for the local SQLite default)"
        )
    return DEV_SECRET_KEY


def engine_options(url: str, env=None) -> dict:
    if url.startswith("sqlite"):
        # Concurrent writers (web, bot, worker) wait on SQLite's lock instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    env = os.environ if env is None else env
    # Each process needs one connection per thread that works at once (a web worker: 1; a bot
    # process: BOT_HANDLER_THREADS; an RQ worker: 1); a burst beyond it waits for a connection.
    # Mind the server's max_connections across every process of the deployment.
    return {
        "pool_pre_ping": True,
        "pool_size": int(env.get("DB_POOL_SIZE") or 5),
        "max_overflow": int(env.get("DB_MAX_OVERFLOW") or 5),
        "pool_timeout": float(env.get("DB_POOL_TIMEOUT") or 30),
    }
