"""Members: everyone with access to a project now or recently, and what an owner can do."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from webapp import clock, jobs
from webapp.codes.views import local_time
from webapp.dashboard.rendering import domain_message, is_htmx, render_page_or_fragment
from webapp.domain import code_queries as queries
from webapp.domain import members
from webapp.domain.errors import InvalidInput, NotFound
from webapp.extensions import db

bp = Blueprint("members", __name__, url_prefix="/members")

CHAT_BADGES = {
    "joined": "ok",
    "link sent": "info",
    "link not delivered": "warn",
    "removed": "",
    "removal pending": "warn",
    "removal failed": "danger",
    "left": "",
    "not joined": "",
}
# The chat states above as the badges say them.
CHAT_STATE_NAMES = {
    "joined": _l("joined"),
    "link sent": _l("link sent"),
    "link not delivered": _l("link not delivered"),
    "removed": _l("removed"),
    "removal pending": _l("removal pending"),
    "removal failed": _l("removal failed"),
    "left": _l("left"),
    "not joined": _l("not joined"),
}


@bp.before_request
@login_required
def require_owner():
    """Every page of the blueprint is for a logged-in owner."""


@bp.context_processor
def helpers():
    return {
        "chat_badges": CHAT_BADGES,
        "chat_state_names": CHAT_STATE_NAMES,
        "member_states": members.STATES,
        "local_time": local_time,
    }


def _owned(lookup, object_id):
    try:
        return lookup(db.session, current_user.id, object_id)
    except NotFound:
        abort(404)


@bp.get("/")
def list_members():
    projects = queries.owner_projects(db.session, current_user.id)
    project_id = request.args.get("project", type=int)
    if project_id is not None:
        project = _owned(queries.owner_project, project_id)
    else:
        project = projects[0] if projects else None
    search = request.args.get("q", "").strip()[:100]
    state = request.args.get("state", "")
    state = state if state in members.STATES else ""
    now = clock.now()
    rows = (
        members.list_members(db.session, project.id, now, search=search, state=state or None)
        if project else []
    )
    return render_page_or_fragment(
        "members/list.html",
        "members/_rows.html",
        projects=projects,
        project=project,
        rows=rows,
        search=search,
        state=state,
        now=now,
        limit=members.MEMBERS_LIMIT,
    )


def _member_page(customer, notice=None, status=200, confirm=None):
    now = clock.now()
    plans = [
        p for p in queries.owner_plans(db.session, current_user.id, include_archived=False)
        if p.project_id == customer.project_id
    ]
    return render_page_or_fragment(
        "members/detail.html",
        "members/_member.html",
        status=status,
        row=members.member_row(db.session, customer),
        history=members.member_history(db.session, customer),
        plans=plans,
        now=now,
        notice=notice,
        confirm=confirm,
    )


@bp.get("/<int:customer_id>")
def member_detail(customer_id: int):
    customer = _owned(members.owner_member, customer_id)
    return _member_page(customer)


@bp.post("/<int:customer_id>/extend")
def extend(customer_id: int):
    customer = _owned(members.owner_member, customer_id)
    try:
        plan_id = int(request.form.get("plan", ""))
    except ValueError:
        return _member_page(customer, gettext("Choose the plan to extend."), status=400)
    try:
        subscription = members.extend_member(
            db.session, customer.project_id, customer.id, plan_id,
            owner_id=current_user.id, now=clock.now(),
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _member_page(customer, domain_message(exc), status=400)
    plan_name = subscription.plan.name if subscription.plan else ""
    db.session.commit()
    if not is_htmx():
        return redirect(url_for("members.member_detail", customer_id=customer.id), 303)
    return _member_page(
        customer, gettext("Extended by one period of %(plan)s.", plan=plan_name)
    )


@bp.get("/<int:customer_id>/end")
def confirm_end(customer_id: int):
    customer = _owned(members.owner_member, customer_id)
    effects = members.preview_end_access(db.session, customer.project_id, customer.id, clock.now())
    if not effects.ending:
        return _member_page(customer, gettext("They have no access to end."), status=409)
    return _member_page(customer, confirm=effects)


@bp.post("/<int:customer_id>/end")
def end(customer_id: int):
    customer = _owned(members.owner_member, customer_id)
    try:
        effects = members.end_access(
            db.session, customer.project_id, customer.id, owner_id=current_user.id, now=clock.now()
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _member_page(customer, domain_message(exc), status=409)
    notice = gettext(
        "Access ended. %(summary)s", summary=domain_message(effects.summary(done=True))
    )
    db.session.commit()
    jobs.enqueue_removals(effects.removal_ids)
    if not is_htmx():
        return redirect(url_for("members.member_detail", customer_id=customer.id), 303)
    return _member_page(customer, notice)

