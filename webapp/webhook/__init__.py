"""Webhook mode: Telegram posts each update here, and it is handled in the request or queued.

``WEBHOOK_HANDLING=inline`` (the default, which measured better in bench.scale) hands the update
to the handlers before answering: a failure answers 503 and Telegram delivers it again.
``queue`` answers as soon as the update is safely in Redis (RQ), so Telegram's delivery never
waits for the database or for the replies, and workers handle it. A wrong or missing
``X-Telegram-Bot-Api-Secret-Token`` is refused without touching anything; an update that cannot
be queued gets a 503, which Telegram retries (at-least-once). Duplicates are skipped by the
dispatcher, whichever process they reach.
"""

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from rq import Queue, Retry
from sqlalchemy import select

from webapp import telegram
from webapp.dashboard.rendering import domain_message
from webapp.domain.errors import NotFound
from webapp.domain.ownership import owned_project
from webapp.extensions import csrf, db
from webapp.models import Project
from webapp.queues import get_redis
from webapp.webhook import registration

bp = Blueprint("webhook", __name__)

UPDATES_QUEUE = "admit-updates"
# The database or Redis away, or another worker holding the same update: try again soon.
UPDATE_RETRY = Retry(max=12, interval=[1, 2, 5, 10, 30, 60])
HANDLE_UPDATE = "bot.webhook_worker.handle_update"


def updates_queue() -> Queue:
    return Queue(UPDATES_QUEUE, connection=get_redis())


@bp.post("/telegram/webhook/<int:project_id>")
@csrf.exempt
def receive(project_id: int):
    token = db.session.scalar(
        select(Project.bot_token).where(Project.id == project_id, Project.deleted_at.is_(None))
    )
    db.session.rollback()
    if token is None:
        abort(404)
    given = request.headers.get(registration.SECRET_HEADER)
    if not registration.secret_matches(current_app, project_id, token, given):
        return {"ok": False, "error": "wrong secret token"}, 403
    update = request.get_json(silent=True)
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return {"ok": False, "error": "not a Telegram update"}, 400
    if current_app.config.get("WEBHOOK_HANDLING") == "inline":
        return _handle_in_request(project_id, update)
    try:
        updates_queue().enqueue(
            HANDLE_UPDATE, project_id, update,
            retry=UPDATE_RETRY, job_timeout=120, result_ttl=0, failure_ttl=7 * 86400,
        )
    except RedisError:
        return {"ok": False, "error": "try again"}, 503
    return {"ok": True}


def _handle_in_request(project_id: int, update: dict):
    """The web worker handles the update before answering (bench.scale's "webhook-inline"), so
    Telegram's deliveries to this bot wait for the database and the replies."""
    from rq.utils import import_attribute

    try:
        import_attribute(HANDLE_UPDATE)(project_id, update)
    except Exception:  # noqa: BLE001 - Telegram delivers it again; the dispatcher skips repeats
        current_app.logger.exception("project %s: update not handled", project_id)
        return {"ok": False, "error": "try again"}, 503
    return {"ok": True}


@bp.get("/projects/<int:project_id>/webhook")
@login_required
def project_webhook(project_id: int):
    try:
        project = owned_project(db.session, current_user.id, project_id)
    except NotFound:
        abort(404)
    mode = current_app.config["BOT_MODE"]
    state = {"mode": mode, "info": None, "problem": None, "expected_url": None}
    token = project.bot_token
    db.session.rollback()
    try:
        if mode == "webhook":
            state["expected_url"] = registration.webhook_url(current_app, project_id)
        with telegram.while_someone_waits():
            state["info"] = telegram.get_webhook_info(token)
    except registration.WebhookUrlRefused as exc:
        state["problem"] = domain_message(exc.args[0])
    except telegram.TelegramError as exc:
        state["problem"] = gettext(
            "Telegram did not tell us the webhook's state: %(problem)s", problem=exc.description
        )
    return render_template("projects/_webhook.html", project=project, **state)
