"""The "needs attention" inbox on the dashboard home: the list (polled) and one-tap Retry."""

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp import clock, jobs
from webapp.dashboard.rendering import is_htmx
from webapp.domain import bot_health, lifecycle
from webapp.domain.attention import needs_attention
from webapp.domain.errors import NotFound
from webapp.domain.ownership import owned
from webapp.extensions import db
from webapp.models import Project, Removal
from webapp.queues import get_redis

bp = Blueprint("attention", __name__, url_prefix="/attention")


@bp.before_request
@login_required
def require_owner():
    """Every page of the blueprint is for a logged-in owner."""


def owner_inbox(owner_id: int):
    """The owner's inbox now, with their bots' last polls when Redis can say."""
    now = clock.now()
    project_ids = list(
        db.session.scalars(
            select(Project.id).where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
        )
    )
    try:
        polls = bot_health.last_polls(get_redis(), project_ids)
    except Exception:  # noqa: BLE001 - Redis away: leave the bot item out rather than fail
        polls = None
    return needs_attention(db.session, owner_id, now, last_polls=polls)


@bp.get("/")
def inbox():
    return render_template("dashboard/_attention.html", inbox=owner_inbox(current_user.id))


@bp.post("/removals/<int:removal_id>/retry")
def retry_removal(removal_id: int):
    try:
        removal = owned(db.session, current_user.id, Removal, removal_id)
    except NotFound:
        abort(404)
    retried = lifecycle.retry_removal(db.session, removal.project_id, removal.id, clock.now())
    db.session.commit()
    if retried:
        jobs.enqueue_removals([removal.id])
    if not is_htmx():
        return redirect(url_for("dashboard.home"), 303)
    notice = (
        gettext("Trying again: it leaves the list once done.")
        if retried
        else gettext("Nothing to retry.")
    )
    return render_template(
        "dashboard/_attention.html", inbox=owner_inbox(current_user.id), notice=notice
    )
