"""Owner control over existing codes: pause, resume, edit, a batch's actions, one activation undone,
and actions on several codes selected in the list."""

from datetime import datetime
from io import BytesIO

from flask import abort, redirect, render_template, request, send_file, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp import clock, jobs
from webapp.codes import BATCH_PANELS, bp
from webapp.codes.qr import qr_png
from webapp.codes.views import _batch_filename, _detail, _htmx, _owned, _render, list_filter
from webapp.codes.wizard import DATE_INPUT
from webapp.dashboard.rendering import domain_message, zone
from webapp.domain import code_control
from webapp.domain import code_queries as queries
from webapp.domain.codes import activation_link
from webapp.domain.csv_export import status_csv, status_csv_multi
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.rollback import (
    preview_rollback_activation,
    preview_rollback_codes,
    rollback_activation,
    rollback_codes,
)
from webapp.extensions import db
from webapp.i18n import D_
from webapp.models import AccessCode, Activation

# -- One code -----------------------------------------------------------------------------------


def _code_answer(code_id: int, notice: str | None = None, status: int = 200):
    if not _htmx():
        return redirect(url_for("codes.code_detail", code_id=code_id), 303)
    code = db.session.get(AccessCode, code_id)
    body = render_template("codes/_code_detail.html", **_detail(code, notice))
    # The edit form and the confirmations sit inside the page: the answer replaces all of it.
    return body, status, {"HX-Retarget": "#code-detail", "HX-Reswap": "outerHTML"}


@bp.get("/<int:code_id>/qr.png")
def code_qr_png(code_id: int):
    code = _owned(queries.owner_code, code_id)
    if code.deleted_at is not None:
        abort(404)
    link = activation_link(code.plan.project.bot_username, code.code)
    response = send_file(BytesIO(qr_png(link)), mimetype="image/png", as_attachment=True,
                         download_name=f"{code.code}-qr.png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<int:code_id>/live")
def code_live(code_id: int):
    code = _owned(queries.owner_code, code_id)
    return render_template("codes/_code_live.html", **_detail(code))


@bp.post("/<int:code_id>/pause")
def pause(code_id: int):
    code = _owned(queries.owner_code, code_id)
    try:
        changed = code_control.pause_code(
            db.session, code.project_id, code.id, owner_id=current_user.id, now=clock.now()
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _code_answer(code_id, domain_message(exc), status=409)
    db.session.commit()
    notice = (
        gettext("Paused: the code refuses new activations. Everyone it let in keeps their access.")
        if changed else gettext("It was paused already.")
    )
    return _code_answer(code_id, notice)


@bp.post("/<int:code_id>/resume")
def resume(code_id: int):
    code = _owned(queries.owner_code, code_id)
    try:
        changed = code_control.resume_code(
            db.session, code.project_id, code.id, owner_id=current_user.id, now=clock.now()
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _code_answer(code_id, domain_message(exc), status=409)
    db.session.commit()
    notice = (
        gettext("Resumed: the code works again.") if changed else gettext("It was not paused.")
    )
    return _code_answer(code_id, notice)


@bp.route("/<int:code_id>/edit", methods=["GET", "POST"])
def edit(code_id: int):
    code = _owned(queries.owner_code, code_id)
    if code.deleted_at is not None:
        abort(404)
    tz = zone(current_user.timezone)
    if request.method == "GET":
        form = {
            "max_activations": str(code.max_activations),
            "expires_at": code.expires_at.astimezone(tz).strftime(DATE_INPUT)
            if code.expires_at else "",
            "note": code.note or "",
        }
        return _render("codes/edit.html", "codes/_code_edit.html", code=code, form=form, errors={})
    form = {k: request.form.get(k, "").strip() for k in ("max_activations", "expires_at", "note")}
    try:
        edit = code_control.CodeEdit(
            max_activations=_positive_int(form["max_activations"]),
            expires_at=_local_moment(form["expires_at"], tz),
            note=form["note"],
        )
        changes = code_control.edit_code(
            db.session, code.project_id, code.id, edit, owner_id=current_user.id, now=clock.now()
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _render(
            "codes/edit.html", "codes/_code_edit.html", status=400,
            code=code, form=form, errors={exc.field: domain_message(exc)},
        )
    db.session.commit()
    return _code_answer(code_id, gettext("Saved.") if changes else gettext("Nothing changed."))


def _positive_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("max_activations", D_("Enter a whole number, e.g. 10.")) from None


def _local_moment(raw: str, tz) -> datetime | None:
    if not raw:
        return None
    try:
        local = datetime.strptime(raw, DATE_INPUT)
    except ValueError:
        raise InvalidInput(
            "expires_at", D_("Enter a date and time like 2027-01-31 18:00.")
        ) from None
    return local.replace(tzinfo=tz).astimezone(clock.now().tzinfo)


# -- One activation -----------------------------------------------------------------------------


def _owned_activation(code_id: int, activation_id: int) -> tuple[AccessCode, Activation]:
    code = _owned(queries.owner_code, code_id)
    activation = db.session.get(Activation, activation_id)
    if activation is None or activation.code_id != code.id:
        abort(404)
    return code, activation


@bp.get("/<int:code_id>/activations/<int:activation_id>/rollback")
def confirm_activation_rollback(code_id: int, activation_id: int):
    code, activation = _owned_activation(code_id, activation_id)
    try:
        effects = preview_rollback_activation(
            db.session, code.project_id, activation.id, clock.now()
        )
    except NotFound:
        abort(404)
    return _render(
        "codes/rollback.html", "codes/_rollback_confirm.html",
        code=code, effects=effects, activation=activation,
        action=url_for("codes.rollback_one_activation", code_id=code.id,
                       activation_id=activation.id),
    )


@bp.post("/<int:code_id>/activations/<int:activation_id>/rollback")
def rollback_one_activation(code_id: int, activation_id: int):
    code, activation = _owned_activation(code_id, activation_id)
    who = activation.customer.display_name
    try:
        effects = rollback_activation(
            db.session, code.project_id, activation.id, owner_id=current_user.id, now=clock.now()
        )
    except NotFound:
        abort(404)
    notice = gettext(
        "%(customer)s's activation was undone. %(summary)s",
        customer=who, summary=domain_message(effects.summary(done=True)),
    )
    db.session.commit()
    jobs.enqueue_removals(effects.removal_ids)
    return _code_answer(code_id, notice)


# -- Batches ------------------------------------------------------------------------------------


def batch_context(batch, notice: str | None = None) -> dict:
    counts = code_control.batch_counts(db.session, batch.id)
    return {
        "batch": batch,
        "counts": counts,
        "live": counts.codes - counts.rolled_back,
        "unpaused_unused": bool(
            code_control.batch_code_ids(db.session, batch.id, unused_only=True, unpaused=True)
        ),
        "filename": _batch_filename(batch),
        "notice": notice,
        "batch_panels": list(BATCH_PANELS),
    }


def _batch_answer(batch, notice: str | None = None):
    if not _htmx():
        return redirect(url_for("codes.batch_detail", batch_id=batch.id), 303)
    return render_template("codes/_batch.html", **batch_context(batch, notice))


@bp.get("/batches/<int:batch_id>")
def batch_detail(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    return _render("codes/batch.html", "codes/_batch.html", **batch_context(batch))


@bp.post("/batches/<int:batch_id>/pause")
def pause_batch(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    ids = code_control.batch_code_ids(db.session, batch.id, unused_only=True)
    n = code_control.pause_codes(
        db.session, batch.project_id, ids, owner_id=current_user.id, now=clock.now(),
        reason="batch",
    )
    db.session.commit()
    return _batch_answer(
        batch,
        ngettext(
            "%(num)s code paused. Codes already activated keep working.",
            "%(num)s codes paused. Codes already activated keep working.",
            n,
        ),
    )


@bp.post("/batches/<int:batch_id>/resume")
def resume_batch(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    ids = code_control.batch_code_ids(db.session, batch.id)
    n = code_control.resume_codes(
        db.session, batch.project_id, ids, owner_id=current_user.id, now=clock.now(),
        reason="batch",
    )
    db.session.commit()
    return _batch_answer(batch, ngettext("%(num)s code resumed.", "%(num)s codes resumed.", n))


@bp.get("/batches/<int:batch_id>/status.csv")
def batch_status_csv(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    codes = queries.batch_all_codes(db.session, batch.id)
    who = queries.activated_by(db.session, [c.id for c in codes])
    data = status_csv(codes, batch.plan.project.bot_username, batch.plan.name, who, clock.now())
    response = send_file(
        BytesIO(data), mimetype="text/csv", as_attachment=True,
        download_name=_batch_filename(batch).replace("-codes.csv", "-codes-status.csv"),
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/batches/<int:batch_id>/rollback")
def confirm_batch_rollback(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    ids = code_control.batch_code_ids(db.session, batch.id)
    effects = preview_rollback_codes(db.session, batch.project_id, ids, clock.now())
    return _render(
        "codes/batch_rollback.html", "codes/_batch_rollback_confirm.html",
        batch=batch, effects=effects, code_count=len(ids),
    )


@bp.post("/batches/<int:batch_id>/rollback")
def rollback_batch(batch_id: int):
    batch = _owned(queries.owner_batch, batch_id)
    ids = code_control.batch_code_ids(db.session, batch.id)
    effects = rollback_codes(
        db.session, batch.project_id, ids, owner_id=current_user.id, now=clock.now(),
        batch_id=batch.id,
    )
    notice = ngettext(
        "%(num)s code rolled back. %(summary)s",
        "%(num)s codes rolled back. %(summary)s",
        len(effects.codes),
        summary=domain_message(effects.summary(done=True)),
    )
    db.session.commit()
    jobs.enqueue_removals(effects.removal_ids)
    return _batch_answer(batch, notice)


# -- Several codes at once ----------------------------------------------------------------------

SELECTION_ACTIONS = {
    "pause": _l("Pause"),
    "resume": _l("Resume"),
    "export": _l("Export as CSV"),
    "rollback": _l("Roll back"),
}


def _selection():
    """The codes the form names: every one matching the list's filter (``scope=all``), or the
    ticked ``ids``; only the owner's, at most ``SELECTION_MAX``."""
    form = request.form
    if form.get("scope") == "all":
        projects = queries.owner_projects(db.session, current_user.id)
        flt, *_ = list_filter(form, projects)
        ids = queries.matching_code_ids(db.session, flt, clock.now())
    else:
        ids = []
        for raw in form.getlist("ids")[: queries.SELECTION_MAX]:
            if raw.isdigit():
                ids.append(int(raw))
    return queries.owner_codes_by_id(db.session, current_user.id, ids)


def _selection_answer(template_context: dict, status: int = 200):
    return _render(
        "codes/selection.html", "codes/_selection_confirm.html", status=status,
        actions=SELECTION_ACTIONS, **template_context,
    )


@bp.post("/selection")
def confirm_selection():
    action = request.form.get("action", "")
    codes = _selection()
    context = {"action": action, "codes": codes, "carry": _carry(), "effects": None,
               "error": None}
    if action not in SELECTION_ACTIONS:
        context["error"] = gettext("Choose what to do with the selected codes.")
        return _selection_answer(context, status=400)
    if not codes:
        context["error"] = gettext(
            "Select at least one code (tick it in the list), or all matching."
        )
        return _selection_answer(context, status=400)
    if action == "rollback":
        projects = {c.project_id for c in codes}
        if len(projects) > 1:
            context["error"] = gettext(
                "Codes of one project at a time can be rolled back together."
            )
            return _selection_answer(context, status=400)
        live = [c.id for c in codes if c.deleted_at is None]
        context["effects"] = preview_rollback_codes(
            db.session, codes[0].project_id, live, clock.now()
        )
    return _selection_answer(context)


def _carry() -> dict:
    """The form values that name the selection, to post again with the confirmation."""
    form = request.form
    keep = {k: form.get(k) for k in ("scope", "project", "plan", "batch", "status", "q")}
    keep = {k: v for k, v in keep.items() if v}
    if form.get("scope") != "all":
        keep["ids"] = [raw for raw in form.getlist("ids") if raw.isdigit()]
    return keep


@bp.post("/selection/apply")
def apply_selection():
    action = request.form.get("action", "")
    codes = _selection()
    if action not in SELECTION_ACTIONS or not codes:
        return _selection_answer(
            {"action": action, "codes": codes, "carry": _carry(), "effects": None,
             "error": gettext("Nothing selected, or no action chosen: nothing was changed.")},
            status=400,
        )
    now = clock.now()
    if action == "export":
        who = queries.activated_by(db.session, [c.id for c in codes])
        data = status_csv_multi(codes, who, now)
        response = send_file(BytesIO(data), mimetype="text/csv", as_attachment=True,
                             download_name=f"{len(codes)}-codes.csv")
        response.headers["Cache-Control"] = "private, no-store"
        return response
    by_project: dict[int, list[int]] = {}
    for code in codes:
        by_project.setdefault(code.project_id, []).append(code.id)
    if action == "rollback" and len(by_project) > 1:
        return _selection_answer(
            {"action": action, "codes": codes, "carry": _carry(), "effects": None,
             "error": gettext("Codes of one project at a time can be rolled back together.")},
            status=400,
        )
    done, removal_ids, summary = 0, [], ""
    for project_id, ids in by_project.items():
        if action == "pause":
            done += code_control.pause_codes(
                db.session, project_id, ids, owner_id=current_user.id, now=now
            )
        elif action == "resume":
            done += code_control.resume_codes(
                db.session, project_id, ids, owner_id=current_user.id, now=now
            )
        else:
            effects = rollback_codes(db.session, project_id, ids, owner_id=current_user.id,
                                     now=now)
            done += len(effects.codes)
            removal_ids += effects.removal_ids
            summary = " " + domain_message(effects.summary(done=True))
    db.session.commit()
    if removal_ids:
        jobs.enqueue_removals(removal_ids)
    done_sentence = {
        "pause": ngettext("%(num)s code paused.", "%(num)s codes paused.", done),
        "resume": ngettext("%(num)s code resumed.", "%(num)s codes resumed.", done),
        "rollback": ngettext("%(num)s code rolled back.", "%(num)s codes rolled back.", done),
    }[action]
    notice = done_sentence + summary
    if not _htmx():
        return redirect(url_for("codes.list_codes"), 303)
    return render_template("codes/_selection_done.html", notice=notice)
