"""The sandbox Telegram: try Admit without Telegram.

``python -m webapp.sandbox`` runs a Bot API server (the emulator the tests prove the product
with) on ``SANDBOX_API_URL``; the dashboard serves its web client under ``/sandbox``. Sandbox
projects' bots live there: every process routes their Bot API calls to it by token, so the bot,
the worker and the dashboard treat a sandbox project exactly like a real one.
"""

from flask import Flask
from sqlalchemy import event

from webapp import telegram
from webapp.models import Project


def init_app(app: Flask) -> None:
    telegram.configure(app.config["TELEGRAM_API_URL"], app.config["SANDBOX_API_URL"])
    app.jinja_env.globals["sandbox_enabled"] = app.config["SANDBOX_ENABLED"]
    if app.config["SANDBOX_ENABLED"]:
        from webapp.sandbox.views import bp

        app.register_blueprint(bp)


@event.listens_for(Project, "load")
def _route_sandbox_bot(project: Project, _context) -> None:
    # Whatever loads a sandbox project (a job, a view, a handler) may next call its bot: the
    # token must already point at the sandbox, never at real Telegram.
    if project.sandbox:
        telegram.route_to_sandbox(project.bot_token)
