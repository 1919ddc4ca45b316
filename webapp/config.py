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


ENVIRONMENTS = ("development", "test", "production")
MIN_SECRET_KEY = 32


def _int_setting(env, name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise RuntimeError(f"{name} must be at least {minimum}, not {value}")
    return value


class Config:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        default_env = "production" if env.get("DYNO") else "development"
        self.ADMIT_ENV = env.get("ADMIT_ENV") or default_env
        if self.ADMIT_ENV not in ENVIRONMENTS:
            # "Production" meaning development would quietly turn off secure cookies and HSTS.
            raise RuntimeError(
                f"ADMIT_ENV must be one of {', '.join(ENVIRONMENTS)} (lower case), "
                f"not {self.ADMIT_ENV!r}"
            )
        production = self.ADMIT_ENV == "production"
        secret = env.get("SECRET_KEY")
        if not secret and production:
            raise RuntimeError("SECRET_KEY must be set in production")
        if secret and production:
            check_secret_key_strength(secret)
        self.SECRET_KEY = secret  # None here gets the development key in create_app, or a refusal
        # Comma-separated Fernet keys for bot tokens at rest; the first encrypts, all decrypt.
        # None: create_app uses the local key file on development machines, or refuses.
        self.TOKEN_ENCRYPTION_KEYS = env.get("TOKEN_ENCRYPTION_KEYS") or None
        # How many proxies in front of the web process set X-Forwarded-For/-Proto: Heroku's
        # router is one; without a proxy (0) the peer address is the client's.
        self.TRUSTED_PROXIES = _int_setting(
            env, "TRUSTED_PROXIES", 1 if env.get("DYNO") else 0, minimum=0
        )
        self.SESSION_IDLE_MINUTES = _int_setting(env, "SESSION_IDLE_MINUTES", 120, minimum=1)
        self.SESSION_MAX_DAYS = _int_setting(env, "SESSION_MAX_DAYS", 14, minimum=1)
        default_db = f"sqlite:///{INSTANCE_DIR / 'admit.sqlite3'}"
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(env.get("DATABASE_URL") or default_db)
        self.REDIS_URL = env.get("REDIS_URL") or ""
        self.TELEGRAM_API_URL = (env.get("TELEGRAM_API_URL") or "https://api.telegram.org").rstrip(
            "/"
        )
        self.PUBLIC_URL = (env.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
        self.BOT_MODE = bot_mode(env.get("BOT_MODE"), self.PUBLIC_URL)
        # "inline" (the web request handles the update before answering Telegram) or "queue"
        # (RQ workers do). Inline measured better in every quiet run of bench.scale: a
        # 1,000-bot burst answered in 12.0-12.6 s against 15.9-16.9 s, with 25% less CPU per
        # update (bench/RESULTS.md); the queue keeps deliveries apart from database time.
        self.WEBHOOK_HANDLING = webhook_handling(env.get("WEBHOOK_HANDLING"))
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


def webhook_handling(value: str | None) -> str:
    value = (value or "inline").strip().lower()
    if value not in ("inline", "queue"):
        raise RuntimeError(f"WEBHOOK_HANDLING must be inline or queue, not {value!r}")
    return value


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


def check_secret_key_strength(secret: str) -> None:
    if len(secret) < MIN_SECRET_KEY or secret == DEV_SECRET_KEY or len(set(secret)) < 8:
        raise RuntimeError(
            f"SECRET_KEY is too weak for production: use at least {MIN_SECRET_KEY} random "
            "characters, e.g. python -c 'import secrets; print(secrets.token_hex(32))'"
        )


LOCAL_TOKEN_KEY_FILE = INSTANCE_DIR / "token-encryption-key"


def token_keys_for(
    keys: str | None, environment: str, key_file: Path = LOCAL_TOKEN_KEY_FILE
) -> str:
    """The Fernet keys bot tokens are encrypted with: the setting, or on a development machine a
    key generated once into ``instance/`` (kept there, so tokens stay readable across runs)."""
    if keys:
        return keys
    if environment == "production":
        raise RuntimeError(
            "TOKEN_ENCRYPTION_KEYS must be set in production (bot tokens are encrypted with "
            "it): python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    from cryptography.fernet import Fernet

    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(Fernet.generate_key().decode() + "\n")
    return key_file.read_text().strip()


def engine_options(url: str, env=None) -> dict:
    if url.startswith("sqlite"):
        # Concurrent writers (web, bot, worker) wait on SQLite's lock instead of failing at once.
        # SQL parameters (bot tokens among them) never reach a log or an exception's message.
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    env = os.environ if env is None else env
    # Each process needs one connection per thread that works at once (a web worker: 1; a bot
    # process: BOT_HANDLER_THREADS; an RQ worker: 1); a burst beyond it waits for a connection.
    # Mind the server's max_connections across every process of the deployment.
    return {
        "pool_pre_ping": True,
        "hide_parameters": True,
        "pool_size": int(env.get("DB_POOL_SIZE") or 5),
        "max_overflow": int(env.get("DB_MAX_OVERFLOW") or 5),
        "pool_timeout": float(env.get("DB_POOL_TIMEOUT") or 30),
    }
