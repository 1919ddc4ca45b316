"""Admit's web application."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import INSTANCE_DIR, Config, engine_options, secret_key_for, token_keys_for
from webapp.extensions import babel, csrf, db, login_manager


def create_app(test_config: dict | None = None, *, migrations: bool = True) -> Flask:
    """The app; ``migrations=False`` for the processes that never migrate (the bot, the
    worker, the sandbox): Flask-Migrate brings Alembic, Mako and Pygments, 12 MiB a process."""
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_path=str(INSTANCE_DIR),
    )
    app.config.from_mapping(Config().as_dict())
    if test_config:
        app.config.from_mapping(test_config)
        if "SQLALCHEMY_ENGINE_OPTIONS" not in test_config:
            uri = app.config["SQLALCHEMY_DATABASE_URI"]
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(uri)
    app.config["SECRET_KEY"] = secret_key_for(
        app.config.get("SECRET_KEY"), app.config["SQLALCHEMY_DATABASE_URI"]
    )
    INSTANCE_DIR.mkdir(exist_ok=True)
    app.config["TOKEN_ENCRYPTION_KEYS"] = token_keys_for(
        app.config.get("TOKEN_ENCRYPTION_KEYS"), app.config["ADMIT_ENV"]
    )
    from webapp import logs, token_crypto

    logs.install_redaction()
    token_crypto.configure(app.config["TOKEN_ENCRYPTION_KEYS"])
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Only the last ``proxies`` entries of X-Forwarded-For/-Proto are believed; anything a
        # client sends itself sits before them and is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from webapp.sqlite import tune_sqlite

        with app.app_context():
            tune_sqlite(db.engine)
    if migrations:
        from flask_migrate import Migrate

        Migrate(app, db, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    from webapp import i18n

    babel.init_app(
        app,
        default_domain=i18n.DASHBOARD_DOMAIN,
        default_translation_directories=str(i18n.TRANSLATIONS_DIR),
        locale_selector=i18n.dashboard_locale,
    )

    from webapp import auth, cli, health, params, telegram

    params.register(app)  # before any blueprint adds a route with <int:…>

    telegram.configure(app.config["TELEGRAM_API_URL"])
    from webapp import sandbox

    sandbox.init_app(app)
    cli.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)

    from webapp import dashboard, plans, projects
    from webapp.dashboard import rendering

    rendering.register(app)
    from webapp import security_headers

    security_headers.register(app)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(projects.bp)
    app.register_blueprint(plans.bp)

    from webapp import codes

    app.register_blueprint(codes.bp)

    from webapp import attention, members

    app.register_blueprint(members.bp)
    app.register_blueprint(attention.bp)

    from webapp import insight

    app.register_blueprint(insight.bp)
    from webapp import webhook

    app.register_blueprint(webhook.bp)
    return app
