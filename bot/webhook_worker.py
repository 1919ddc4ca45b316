"""Webhook mode's worker side: the RQ job that hands one queued update to the dispatcher.

Workers keep one ``Dispatcher`` per project (built on its first update, rebuilt when the token
changes), so an update costs its handling only. The job raises when the update must be tried
again (database or Redis away, another worker holding it): RQ retries it with backoff.
"""

import threading

from sqlalchemy import select

from bot.dispatch import Dispatcher
from webapp.extensions import db
from webapp.models import Project
from webapp.worker import job_app

_dispatchers: dict[int, Dispatcher] = {}
_lock = threading.Lock()


def dispatcher_for(project_id: int) -> Dispatcher | None:
    """The project's dispatcher, or None for a removed project."""
    app = job_app()
    with app.app_context():
        try:
            token = db.session.scalar(
                select(Project.bot_token).where(
                    Project.id == project_id, Project.deleted_at.is_(None)
                )
            )
        finally:
            db.session.remove()
    with _lock:
        current = _dispatchers.get(project_id)
        if token is None or (current is not None and current.token != token):
            if current is not None:
                current.close()
            _dispatchers.pop(project_id, None)
            current = None
        if token is not None and current is None:
            current = _dispatchers[project_id] = Dispatcher(app, project_id, token)
        return current


def handle_update(project_id: int, update: dict) -> str:
    """RQ job: handle one update Telegram posted to the project's webhook."""
    dispatcher = dispatcher_for(project_id)
    if dispatcher is None:
        return "project removed"
    return "handled" if dispatcher.dispatch_json(update) else "duplicate"
