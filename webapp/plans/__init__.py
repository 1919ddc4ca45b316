"""Plans: create, edit, archive."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp.dashboard.rendering import (
    domain_message,
    is_htmx,
    period_label,
    render_page_or_fragment,
)
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.plans import (
    PlanInput,
    archive_plan,
    create_plan,
    owned_plan,
    owner_plans,
    restore_plan,
    update_plan,
)
from webapp.domain.projects import owned_project, owner_projects, project_resources
from webapp.extensions import db
from webapp.models import utcnow
from webapp.params import id_arg
from webapp.plans.forms import PlanForm

bp = Blueprint("plans", __name__)


def _project_or_404(project_id: int):
    try:
        return owned_project(db.session, current_user.id, project_id)
    except NotFound:
        abort(404)


def _plan_or_404(plan_id: int):
    try:
        return owned_plan(db.session, current_user.id, plan_id)
    except NotFound:
        abort(404)


def _plan_input(form: PlanForm) -> PlanInput:
    return PlanInput(
        name=form.name.data or "",
        resource_ids=list(form.resources.data or []),
        period_unit=form.period_unit.data,
        period_count=form.period_count.data,
        renewal_text=form.renewal_text.data,
    )


@bp.get("/plans")
@login_required
def list_plans():
    project_id = id_arg("project")
    project = _project_or_404(project_id) if project_id is not None else None
    archived = request.args.get("archived") == "1"
    plans = owner_plans(db.session, current_user.id, project_id=project_id, archived=archived)
    return render_page_or_fragment(
        "plans/list.html",
        "plans/_plan_list.html",
        plans=plans,
        project=project,
        projects=owner_projects(db.session, current_user.id),
        archived=archived,
    )


@bp.route("/projects/<int:project_id>/plans/new", methods=["GET", "POST"])
@login_required
def new_plan(project_id: int):
    project = _project_or_404(project_id)
    resources = project_resources(db.session, project.id)
    form = PlanForm(resources=resources)
    if request.method == "GET" and len(resources) == 1:
        form.resources.data = [resources[0].id]
    if form.validate_on_submit():
        try:
            plan = create_plan(db.session, project.id, _plan_input(form), utcnow())
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(domain_message(exc))
        else:
            db.session.commit()
            flash(
                gettext(
                    "Plan “%(plan)s” created (%(period)s).",
                    plan=plan.name, period=period_label(plan),
                ),
                "success",
            )
            return redirect(url_for("plans.list_plans", project=project.id), 303)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "plans/form.html", form=form, project=project, plan=None, resources=resources
    ), status


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@login_required
def edit_plan(plan_id: int):
    plan = _plan_or_404(plan_id)
    project = plan.project
    resources = project_resources(db.session, project.id)
    form = PlanForm(obj=plan, resources=resources)
    if request.method == "GET":
        form.resources.data = [r.id for r in plan.resources]
    if form.validate_on_submit():
        try:
            update_plan(db.session, plan, _plan_input(form))
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(domain_message(exc))
        else:
            db.session.commit()
            flash(gettext("Plan “%(plan)s” saved.", plan=plan.name), "success")
            return redirect(url_for("plans.list_plans", project=project.id), 303)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "plans/form.html", form=form, project=project, plan=plan, resources=resources
    ), status


@bp.post("/plans/<int:plan_id>/archive")
@login_required
def archive(plan_id: int):
    plan = _plan_or_404(plan_id)
    archive_plan(db.session, plan, utcnow())
    db.session.commit()
    return _after_change(
        plan,
        gettext("Plan “%(plan)s” archived. Codes already made still work.", plan=plan.name),
    )


@bp.post("/plans/<int:plan_id>/restore")
@login_required
def restore(plan_id: int):
    plan = _plan_or_404(plan_id)
    restore_plan(db.session, plan)
    db.session.commit()
    return _after_change(plan, gettext("Plan “%(plan)s” is active again.", plan=plan.name))


def _after_change(plan, message: str):
    """htmx replaces the plan's row with a notice; a plain form goes back to the list."""
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("plans.list_plans", project=plan.project_id), 303)
    body = render_template("plans/_plan_changed.html", plan=plan, message=message)
    return body, 200, {"Vary": "HX-Request"}
