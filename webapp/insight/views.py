from flask import Response, abort, render_template, request, stream_with_context
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp import clock
from webapp.dashboard.rendering import domain_message, is_htmx, zone
from webapp.domain import charts, exports, funnel
from webapp.domain import code_queries as queries
from webapp.domain.csv_export import codes_csv, slug
from webapp.domain.errors import InvalidInput, NotFound
from webapp.extensions import db
from webapp.insight import bp
from webapp.insight.svg import bar_chart, line_chart
from webapp.models import Plan


@bp.before_request
@login_required
def require_owner():
    """Every page of the blueprint is for a logged-in owner."""


@bp.after_request
def vary_on_htmx(response):
    response.vary.add("HX-Request")
    return response


@bp.context_processor
def helpers():
    return {"step_labels": funnel.STEP_LABELS, "periods": charts.PERIODS}


def _render(page: str, partial: str, status: int = 200, **context):
    return render_template(partial if is_htmx() else page, **context), status


def _owned(lookup, *args):
    try:
        return lookup(db.session, current_user.id, *args)
    except NotFound:
        abort(404)


def _projects(project_arg: str | None) -> dict:
    """The owner's projects, or the one named by ``?project=`` (404 if not theirs)."""
    if project_arg:
        try:
            project_id = int(project_arg)
        except ValueError:
            abort(404)
        project = _owned(queries.owner_project, project_id)
        return {project.id: project}
    return {p.id: p for p in queries.owner_projects(db.session, current_user.id)}


def _csv(rows, filename: str) -> Response:
    response = Response(stream_with_context(rows), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _plan_of(scope: str, thing) -> Plan:
    return thing if scope == "plan" else thing.plan


def _scope_title(scope: str, thing) -> str:
    if scope == "code":
        return gettext("code %(code)s", code=thing.code)
    if scope == "batch":
        return gettext("batch of %(count)s · %(plan)s", count=thing.size, plan=thing.plan.name)
    return gettext("plan %(plan)s", plan=thing.name)


# -- Funnels -----------------------------------------------------------------------------------


@bp.get("/funnel/<scope>/<int:scope_id>")
def funnel_view(scope: str, scope_id: int):
    thing = _owned(funnel.owned_scope, scope, scope_id)
    plan = _plan_of(scope, thing)
    context = {
        "funnel": funnel.funnel_for(db.session, scope, scope_id, plan),
        "scope": scope,
        "thing": thing,
        "plan": plan,
        "title": _scope_title(scope, thing),
        "use": funnel.batch_use(db.session, scope_id, clock.now()) if scope == "batch" else None,
    }
    return _render("insight/funnel.html", "insight/_funnel.html", **context)


@bp.get("/funnel/<scope>/<int:scope_id>/people")
def people(scope: str, scope_id: int):
    thing = _owned(funnel.owned_scope, scope, scope_id)
    step, detail = request.args.get("step", ""), request.args.get("detail", "")[:32]
    try:
        rows = funnel.people_at(db.session, scope, scope_id, step, detail)
    except NotFound:
        abort(404)
    plan = _plan_of(scope, thing)
    label = domain_message(funnel.STEP_LABELS[step])
    if detail:
        chats = {r.id: r.title for r in plan.resources}
        label = gettext(
            "%(step)s: %(detail)s",
            step=label, detail=domain_message(funnel.detail_label(step, detail, chats)),
        )
    return _render(
        "insight/people.html",
        "insight/_people.html",
        rows=rows,
        codes=funnel.code_names(db.session, {r.code_id for r in rows}),
        scope=scope,
        thing=thing,
        title=_scope_title(scope, thing),
        label=label,
        limit=funnel.PEOPLE_LIMIT,
        timezone=current_user.timezone,  # read once, not once per row
    )


@bp.get("/batches/<int:batch_id>/unused.csv")
def unused_csv(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    codes = funnel.unused_codes(db.session, batch.id, clock.now())
    plan = batch.plan
    response = Response(
        codes_csv(codes, plan.project.bot_username, plan.name), mimetype="text/csv; charset=utf-8"
    )
    name = f"{slug(plan.project.name)}-{slug(plan.name)}-{len(codes)}-unused-codes.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"  # the codes are secrets
    return response


# -- Charts ------------------------------------------------------------------------------------


def _activity():
    projects = _projects(request.args.get("project"))
    try:
        days = charts.parse_period(request.args.get("days"))
        error = None
    except InvalidInput as exc:
        days, error = charts.PERIODS[0], domain_message(exc)
    tz = zone(current_user.timezone)
    data = charts.activity(db.session, tuple(projects), days, tz, clock.now())
    return projects, days, data, error


def _day_label(day, days: int) -> str:
    return day.strftime("%-d %b") if days < 365 else day.strftime("%b %Y")


@bp.get("/charts")
def charts_view():
    projects, days, data, error = _activity()
    labels = [d.day.strftime("%-d %b") for d in data.days]
    weeks = data.weeks
    week_labels = [w.start.strftime("%-d %b") for w in weeks]
    pictures = {
        "activations": bar_chart(
            gettext("Activations per day"),
            labels,
            [[d.activations for d in data.days]],
            [gettext("activations")],
        ),
        "active": line_chart(gettext("Active members"), labels, [d.active for d in data.days]),
        "weekly": bar_chart(
            gettext("Renewals and ends per week"),
            week_labels,
            [[w.renewals for w in weeks], [w.ended for w in weeks]],
            [gettext("renewals"), gettext("ends")],
        ),
    }
    project_id = next(iter(projects)) if request.args.get("project") else None
    return _render(
        "insight/charts.html",
        "insight/_charts.html",
        400 if error else 200,
        data=data,
        days=days,
        pictures=pictures,
        project_id=project_id,
        projects=projects,
        error=error,
    )


@bp.get("/charts.csv")
def charts_csv():
    projects, days, data, error = _activity()
    if error:
        return error, 400
    rows = (
        [d.day.isoformat(), d.activations, d.renewals, d.started, d.ended, d.active]
        for d in data.days
    )
    head = [
        f"Day ({data.timezone})",
        "Activations",
        "Renewals",
        "New subscriptions",
        "Ended",
        "Active members at the end of the day",
    ]
    name = slug(next(iter(projects.values())).name) if len(projects) == 1 else "all-projects"
    return _csv(exports.csv_lines(head, rows), f"{name}-activity-{days}-days.csv")


# -- Exports -----------------------------------------------------------------------------------


@bp.get("/exports")
def exports_page():
    _projects(request.args.get("project"))  # a project that is not theirs is a 404
    projects = _projects(None)
    today = clock.now().astimezone(zone(current_user.timezone)).date()
    span = exports.parse_range(None, None, today)
    return render_template(
        "insight/exports.html",
        projects=projects,
        project_id=request.args.get("project", ""),
        first=span.first.isoformat(),
        last=span.last.isoformat(),
        errors={},
    )


@bp.get("/codes.csv")
def codes_export():
    """The code list's CSV, with the list's own filters (project, plan, batch, status, q)."""
    now = clock.now()
    projects = _projects(request.args.get("project"))
    plan = batch = None
    if request.args.get("plan"):
        plan = _owned(funnel.owned_scope, "plan", _int_or_404(request.args["plan"]))
    if request.args.get("batch"):
        batch = _owned(funnel.owned_scope, "batch", _int_or_404(request.args["batch"]))
    status = request.args.get("status", "")
    flt = queries.CodeFilter(
        project_ids=tuple(projects),
        plan_id=plan.id if plan else None,
        batch_id=batch.id if batch else None,
        status=status if status in queries.STATUSES else None,
        search=request.args.get("q", "").strip()[:64],
    )
    tz = zone(current_user.timezone)
    rows = exports.code_rows(db.session, flt, projects, tz, now)
    return _csv(exports.csv_lines(exports.header(exports.CODE_HEADER, tz), rows), "codes.csv")


def _int_or_404(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        abort(404)


@bp.get("/members.csv")
def members_export():
    projects = _projects(request.args.get("project"))
    tz = zone(current_user.timezone)
    rows = exports.member_rows(db.session, projects, tz, clock.now())
    return _csv(exports.csv_lines(exports.header(exports.MEMBER_HEADER, tz), rows), "members.csv")


@bp.get("/activations.csv")
def activations_export():
    projects = _projects(request.args.get("project"))
    tz = zone(current_user.timezone)
    now = clock.now()
    first, last = request.args.get("from"), request.args.get("to")
    try:
        span = exports.parse_range(first, last, now.astimezone(tz).date())
    except InvalidInput as exc:
        body = render_template(
            "insight/exports.html",
            projects=_projects(None),
            project_id=request.args.get("project", ""),
            first=first or "",
            last=last or "",
            errors={exc.field: domain_message(exc)},
        )
        return body, 400
    rows = exports.activation_rows(db.session, projects, span, tz, now)
    name = f"activations-{span.first.isoformat()}-to-{span.last.isoformat()}.csv"
    return _csv(exports.csv_lines(exports.header(exports.ACTIVATION_HEADER, tz), rows), name)
