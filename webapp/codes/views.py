from datetime import datetime
from io import BytesIO
from urllib.parse import urlencode

from flask import abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from webapp import clock, jobs
from webapp.codes import bp
from webapp.codes.qr import qr_svg
from webapp.codes.wizard import (
    ACTIVATION_SUGGESTIONS,
    EXPIRY_CHOICES,
    FIELD_STEP,
    NOTE_MAX,
    STEP_TITLES,
    STEPS,
    WizardAnswers,
    next_step,
    previous_step,
)
from webapp.dashboard.rendering import domain_message, is_htmx, localtime, zone
from webapp.domain import code_queries as queries
from webapp.domain import lifecycle
from webapp.domain.codes import MAX_BATCH, activation_link, create_codes
from webapp.domain.csv_export import codes_csv, csv_filename
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.ids import parse_id
from webapp.domain.rollback import preview_rollback, rollback_code
from webapp.extensions import db
from webapp.i18n import D_
from webapp.models import AccessCode, Plan, Removal
from webapp.params import cursor_arg

EVENT_LABELS = {
    "code.created": _l("Created"),
    "batch.created": _l("Created in a bulk generation"),
    "code.activated": _l("Activated"),
    "code.rolled_back": _l("Rolled back"),
    "code.paused": _l("Paused"),
    "code.resumed": _l("Resumed"),
    "code.edited": _l("Edited"),
    "activation.rolled_back": _l("Activation undone"),
}

STATUS_BADGES = {
    "active": "ok",
    "used up": "warn",
    "paused": "info",
    "expired": "",
    "rolled back": "danger",
}
SUBSCRIPTION_BADGES = {
    "active": "ok",
    "reminder sent": "info",
    "access ended": "",
    "removal pending": "warn",
    "removal failed": "danger",
}
REMOVAL_BADGES = {"pending": "warn", "done": "ok", "failed": "danger", "skipped": ""}
# The statuses above as the badges say them.
STATUS_NAMES = {
    "active": _l("active"),
    "used up": _l("used up"),
    "paused": _l("paused"),
    "expired": _l("expired"),
    "rolled back": _l("rolled back"),
    "reminder sent": _l("reminder sent"),
    "access ended": _l("access ended"),
    "removal pending": _l("removal pending"),
    "removal failed": _l("removal failed"),
}
REMOVAL_NAMES = {
    "pending": _l("pending"), "done": _l("done"), "failed": _l("failed"), "skipped": _l("skipped"),
}


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
    return {
        "local_time": local_time,
        "owner_timezone": zone(current_user.timezone).key,
        "status_labels": queries.STATUSES,
        "event_labels": EVENT_LABELS,
        "status_badges": STATUS_BADGES,
        "subscription_badges": SUBSCRIPTION_BADGES,
        "removal_badges": REMOVAL_BADGES,
        "status_names": STATUS_NAMES,
        "removal_names": REMOVAL_NAMES,
    }


def local_time(moment: datetime | None, empty: str = "—") -> str:
    return empty if moment is None else localtime(moment)


def _htmx() -> bool:
    # A history restore (back button after htmx pushed the URL) wants the whole page.
    return is_htmx() and request.headers.get("HX-History-Restore-Request") != "true"


def _render(template: str, partial: str, status: int = 200, **context):
    body = render_template(partial if _htmx() else template, **context)
    return body, status


def _owned(lookup, object_id: int):
    try:
        return lookup(db.session, current_user.id, object_id)
    except NotFound:
        abort(404)


def _int_value(values, name: str) -> int | None:
    """The row id in ``values[name]``: None when absent or empty, a 404 when it cannot be one
    (``?project=abc``, ``?project=3000000000``: never a query PostgreSQL refuses)."""
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    value = parse_id(raw)
    if value is None:
        abort(404)
    return value


# -- List ---------------------------------------------------------------------------------------


@bp.get("/")
def list_codes():
    now = clock.now()
    projects = queries.owner_projects(db.session, current_user.id)
    flt, project, plan, batch = list_filter(request.args, projects)
    status, search = flt.status or "", flt.search
    page = queries.list_codes(
        db.session,
        flt,
        now,
        after=cursor_arg("after"),
        before=cursor_arg("before"),
        limit=current_app.config.get("CODES_PAGE_SIZE", queries.PAGE_SIZE),
    )
    args = {
        "project": project.id if project else None,
        "plan": plan.id if plan else None,
        "batch": batch.id if batch else None,
        "status": status or None,
        "q": search or None,
    }
    args = {k: v for k, v in args.items() if v is not None}
    return _render(
        "codes/list.html",
        "codes/_code_results.html",
        projects=projects,
        plans=queries.owner_plans(db.session, current_user.id),
        page=page,
        args=args,
        filtering=bool(args),
        batch=batch,
        search=search,
        status_filter=status,
        project_id=project.id if project else None,
        plan_id=plan.id if plan else None,
        now=now,
        total=queries.count_codes(db.session, flt, now),
        count_cap=queries.COUNT_CAP,
    )


def list_filter(values, projects):
    """The list's filter from query (or form) ``values``: the filter and the project, plan and
    batch it names (each the owner's, or a 404)."""
    project_id, plan_id, batch_id = (
        _int_value(values, "project"), _int_value(values, "plan"), _int_value(values, "batch")
    )
    project = _owned(queries.owner_project, project_id) if project_id is not None else None
    plan = _owned(queries.owner_plan, plan_id) if plan_id is not None else None
    batch = _owned(queries.owner_batch, batch_id) if batch_id is not None else None
    status = values.get("status", "")
    status = status if status in queries.STATUSES else ""
    flt = queries.CodeFilter(
        project_ids=(project.id,) if project else tuple(p.id for p in projects),
        plan_id=plan.id if plan else None,
        batch_id=batch.id if batch else None,
        status=status or None,
        search=values.get("q", "").strip()[:64],
    )
    return flt, project, plan, batch


# -- New code wizard ----------------------------------------------------------------------------


@bp.get("/new")
def new_code():
    plan_id = request.args.get("plan", "")
    if not plan_id:
        plans = queries.owner_plans(db.session, current_user.id, include_archived=False)
        if len(plans) == 1:
            plan_id = str(plans[0].id)  # nothing to choose: the only plan is preselected
    answers = WizardAnswers(plan_id=plan_id)
    _wizard_plan(answers)
    return _wizard("plan", answers)


@bp.post("/new")
def wizard():
    now = clock.now()
    answers = WizardAnswers.from_form(request.form)
    step = request.form.get("step", "plan")
    step = step if step in STEPS else "plan"
    go = request.form.get("go", "next")
    if step == STEPS[-1] and go == "next":
        go = "create"
    plan = _wizard_plan(answers)
    if go == "back":
        return _wizard(previous_step(step), answers)
    try:
        if plan is not None and plan.archived_at is not None:
            raise InvalidInput("plan", D_("This plan is archived; choose an active plan."))
        if go != "create":
            answers.check_step(step, zone(current_user.timezone), now)
            return _wizard(next_step(step), answers)
        code_request = answers.to_request(zone(current_user.timezone), now)
        batch, codes = create_codes(
            db.session, plan.project_id, code_request, owner_id=current_user.id, now=now
        )
        db.session.commit()
    except InvalidInput as exc:
        db.session.rollback()
        return _wizard(FIELD_STEP.get(exc.field, step), answers.with_error(exc), status=400)
    except IntegrityError:
        # Someone made the same custom code between the check and the insert.
        db.session.rollback()
        error = InvalidInput("custom_code", D_("This project already has (or had) that code."))
        return _wizard("kind", answers.with_error(error), status=400)
    if not _htmx():
        if batch is not None:
            return redirect(url_for("codes.batch_detail", batch_id=batch.id), 303)
        return redirect(url_for("codes.code_detail", code_id=codes[0].id), 303)
    if batch is not None:
        body = render_template(
            "codes/_created.html", batch=batch, plan=batch.plan, filename=_batch_filename(batch)
        )
        return body, 200, {"HX-Push-Url": url_for("codes.batch_detail", batch_id=batch.id)}
    code = codes[0]
    body = render_template("codes/_created.html", batch=None, code=code, **_share(code))
    # The address bar shows the code's own page, so a refresh does not lose the new code.
    return body, 200, {"HX-Push-Url": url_for("codes.code_detail", code_id=code.id)}


def _wizard_plan(answers: WizardAnswers) -> Plan | None:
    """The chosen plan if one is given; another owner's plan is a 404 like any other id."""
    try:
        plan_id = answers.plan_id_value()
    except InvalidInput:
        return None
    return _owned(queries.owner_plan, plan_id)


def _wizard(step: str, answers: WizardAnswers, status: int = 200):
    plan = _wizard_plan(answers)
    return _render(
        "codes/new.html",
        "codes/_wizard.html",
        status=status,
        step=step,
        steps=STEPS,
        step_titles=STEP_TITLES,
        answers=answers,
        plan=plan,
        plans=queries.owner_plans(db.session, current_user.id, include_archived=False),
        expiry_choices=EXPIRY_CHOICES,
        suggestions=ACTIVATION_SUGGESTIONS,
        max_batch=MAX_BATCH,
        note_max=NOTE_MAX,
    )


def _share(code: AccessCode) -> dict:
    link = activation_link(code.plan.project.bot_username, code.code)
    plan = code.plan
    # A message the owner can paste as it is; the project's name only once.
    label = plan.name if plan.project.name.casefold() in plan.name.casefold() else (
        f"{plan.project.name}, {plan.name}"
    )
    message = gettext(
        "Your access to %(plan)s: tap %(link)s and press START to join.", plan=label, link=link
    )
    return {
        "link": link,
        "qr": qr_svg(link, gettext("QR code of the activation link of %(code)s", code=code.code)),
        "customer_message": message,
        "share_url": "https://t.me/share/url?" + urlencode({"url": link, "text": message}),
    }


# -- Detail and rollback ------------------------------------------------------------------------


@bp.get("/<int:code_id>")
def code_detail(code_id: int):
    code = _owned(queries.owner_code, code_id)
    return _render("codes/detail.html", "codes/_code_detail.html", **_detail(code))


def _detail(code: AccessCode, notice: str | None = None) -> dict:
    return {
        "code": code,
        "now": clock.now(),
        "activations": queries.code_activations(db.session, code.id),
        "history": queries.code_history(db.session, code),
        "removals": queries.code_removals(db.session, code.id) if code.deleted_at else [],
        "notice": notice,
        **_share(code),
    }


@bp.get("/<int:code_id>/rollback")
def confirm_rollback(code_id: int):
    code = _owned(queries.owner_code, code_id)
    try:
        effects = preview_rollback(db.session, code.project_id, code.id, clock.now())
    except NotFound:
        abort(404)  # already rolled back
    return _render(
        "codes/rollback.html", "codes/_rollback_confirm.html", code=code, effects=effects
    )


@bp.post("/<int:code_id>/rollback")
def rollback(code_id: int):
    code = _owned(queries.owner_code, code_id)
    try:
        effects = rollback_code(
            db.session, code.project_id, code.id, owner_id=current_user.id, now=clock.now()
        )
    except NotFound:
        abort(404)
    notice = gettext(
        "%(code)s was rolled back. %(summary)s",
        code=code.code, summary=domain_message(effects.summary(done=True)),
    )
    db.session.commit()
    # A Redis outage is handled inside: the rows are committed as pending and the sweep finds them.
    jobs.enqueue_removals(effects.removal_ids)
    if not _htmx():
        return redirect(url_for("codes.code_detail", code_id=code.id), 303)
    code = db.session.get(AccessCode, code.id)
    return render_template("codes/_code_detail.html", **_detail(code, notice))


@bp.post("/<int:code_id>/removals/<int:removal_id>/retry")
def retry_removal(code_id: int, removal_id: int):
    try:
        removal = queries.owner_code_removal(db.session, current_user.id, code_id, removal_id)
    except NotFound:
        abort(404)
    retried = lifecycle.retry_removal(db.session, removal.project_id, removal.id, clock.now())
    db.session.commit()
    if retried:
        jobs.enqueue_removals([removal.id])
    if not _htmx():
        return redirect(url_for("codes.code_detail", code_id=code_id), 303)
    removal = db.session.get(Removal, removal_id)
    # 200 either way: htmx swaps only successful answers, and the row shows the status as it is.
    notice = gettext("Trying again.") if retried else gettext(
        "Not failed any more: nothing to retry."
    )
    return render_template("codes/_removal_row.html", removal=removal, row_notice=notice)


# -- Batches ------------------------------------------------------------------------------------


@bp.get("/batches")
def list_batches():
    projects = queries.owner_projects(db.session, current_user.id)
    batches, older = queries.list_batches(
        db.session,
        tuple(p.id for p in projects),
        after=cursor_arg("after"),
        limit=current_app.config.get("CODES_PAGE_SIZE", queries.PAGE_SIZE),
    )
    return _render(
        "codes/batches.html",
        "codes/_batch_rows.html",
        projects=projects,
        batches=batches,
        older=older,
        live=queries.batch_live_counts(db.session, [b.id for b in batches]),
        first_page=request.args.get("after") is None,
    )


@bp.get("/batches/<int:batch_id>/csv")
def batch_csv(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    codes = queries.batch_codes(db.session, batch.id)
    plan = batch.plan
    data = codes_csv(codes, plan.project.bot_username, plan.name)
    response = send_file(
        BytesIO(data),
        mimetype="text/csv",
        as_attachment=True,
        download_name=_batch_filename(batch, len(codes)),
    )
    response.headers["Cache-Control"] = "private, no-store"  # the codes are secrets
    return response


def _batch_filename(batch, count: int | None = None) -> str:
    plan = batch.plan
    return csv_filename(plan.project.name, plan.name, batch.size if count is None else count)
