"""The dashboard home, the activity feed, the owner's account and the Telegram link."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required

from webapp import telegram
from webapp.attention import owner_inbox
from webapp.dashboard.forms import AccountForm, PasswordForm
from webapp.dashboard.rendering import domain_message, render_page_or_fragment
from webapp.domain.accounts import (
    MIN_PASSWORD,
    change_password,
    set_owner_language,
    set_timezone,
)
from webapp.domain.activity import recent_activity
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.owner_link import (
    issue_link_token,
    link_expires_at,
    link_is_live,
    owner_deep_link,
    unlink_telegram_account,
)
from webapp.domain.ownership import owned
from webapp.domain.projects import owned_project, owner_projects, project_overview
from webapp.domain.ratelimit import login_blocked, record_login_failure
from webapp.domain.sessions import active_sessions, end_one_session, end_other_sessions, is_current
from webapp.domain.setup import judge_link_test, record_link_test, setup_checklist
from webapp.extensions import db
from webapp.i18n import LANGUAGES
from webapp.models import AccessCode, utcnow
from webapp.params import id_arg, page_arg
from webapp.queues import get_redis

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def home():
    summaries = project_overview(db.session, current_user.id)
    latest = recent_activity(db.session, current_user.id, per_page=5) if summaries else None
    inbox = owner_inbox(current_user.id) if summaries else None
    checklist = setup_checklist(db.session, current_user.id)
    return render_template(
        "dashboard/home.html", summaries=summaries, latest=latest, inbox=inbox,
        checklist=checklist,
    )


@bp.post("/setup/test-link/<int:code_id>")
@login_required
def test_link(code_id: int):
    """The dry run of an activation link: the code, the bot, its rights; nothing activated."""
    try:
        code = owned(db.session, current_user.id, AccessCode, code_id)
    except NotFound:
        abort(404)
    project = code.plan.project
    resources = list(code.plan.resources)
    token = project.bot_token
    db.session.rollback()  # no transaction held while Telegram answers
    bot_problem, rights = None, []
    with telegram.while_someone_waits():
        try:
            telegram.get_me(token)
        except telegram.TelegramError as exc:
            bot_problem = gettext("Telegram says: %(problem)s", problem=exc.description)
        for resource in resources:
            try:
                member = telegram.get_chat_member(token, resource.chat_id, project.bot_user_id)
                rights.append((resource, member, None))
            except telegram.TelegramError as exc:
                problem = gettext("Telegram says: %(problem)s", problem=exc.description)
                rights.append((resource, None, problem))
    code = db.session.get(AccessCode, code_id)
    result = judge_link_test(code, utcnow(), bot_problem, rights)
    record_link_test(db.session, code, current_user.id, result, utcnow())
    db.session.commit()
    return render_page_or_fragment(
        "dashboard/link_test.html", "dashboard/_link_test.html", code=code, result=result
    )


@bp.get("/activity")
@login_required
def activity():
    page = page_arg()
    project_id = id_arg("project")
    project = None
    if project_id is not None:
        try:
            project = owned_project(db.session, current_user.id, project_id)
        except NotFound:
            abort(404)
    feed = recent_activity(db.session, current_user.id, page=page, project_id=project_id)
    return render_page_or_fragment(
        "dashboard/activity.html",
        "dashboard/_activity_feed.html",
        feed=feed,
        project=project,
        projects=owner_projects(db.session, current_user.id),
    )


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = AccountForm(obj=current_user)
    if form.validate_on_submit():
        try:
            name = set_timezone(db.session, current_user, form.timezone.data)
            set_owner_language(db.session, current_user, form.language.data)
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(domain_message(exc))
        else:
            db.session.commit()
            flash(
                gettext(
                    "Times are now shown in %(zone)s; your bot writes to you in %(language)s.",
                    zone=name, language=LANGUAGES[current_user.language],
                ),
                "success",
            )
            return redirect(url_for("dashboard.account"))
    status = 400 if form.is_submitted() else 200
    return _account_page(form, PasswordForm(formdata=None), status)


@bp.post("/account/password")
@login_required
def change_account_password():
    from webapp.auth import client_ip, throttle_message

    form = PasswordForm()
    if form.validate_on_submit():
        # Guessing the current password here is guessing the log-in password: the same counts.
        redis, ip, now = get_redis(), client_ip(), utcnow()
        blocked = login_blocked(redis, current_user.email, ip, None, now)
        if blocked:
            form.current_password.errors.append(throttle_message(blocked))
            page, _ = _account_page(AccountForm(formdata=None, obj=current_user), form, 429)
            return page, 429, {"Retry-After": str(blocked.retry_after_seconds)}
        try:
            change_password(
                db.session,
                current_user,
                form.current_password.data,
                form.new_password.data,
                form.repeat_password.data,
            )
        except InvalidInput as exc:
            db.session.rollback()
            if exc.field == "current_password":
                record_login_failure(redis, current_user.email, ip, now)
            getattr(form, exc.field).errors.append(domain_message(exc))
        else:
            # Whoever knew the old password may hold another session: it ends with it.
            end_other_sessions(db.session, current_user.id, current_user.login_token, utcnow())
            db.session.commit()
            flash(gettext("Your password is changed. Use the new one from now on."), "success")
            return redirect(url_for("dashboard.account"), 303)
    return _account_page(AccountForm(formdata=None, obj=current_user), form, 400)


@bp.post("/account/sessions/others/end")
@login_required
def end_other_account_sessions():
    ended = end_other_sessions(db.session, current_user.id, current_user.login_token, utcnow())
    db.session.commit()
    flash(
        ngettext(
            "Logged out everywhere else (%(num)s session).",
            "Logged out everywhere else (%(num)s sessions).",
            ended,
        ),
        "success",
    )
    return redirect(url_for("dashboard.account"), 303)


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_account_session(session_id: int):
    try:
        end_one_session(db.session, current_user.id, session_id, utcnow())
    except NotFound:
        abort(404)
    db.session.commit()
    flash(gettext("That session is logged out."), "success")
    return redirect(url_for("dashboard.account"), 303)


def _account_page(timezone_form, password_form, status):
    from webapp.auth import session_lifetimes

    now = utcnow()
    sessions = active_sessions(db.session, current_user.id, now, session_lifetimes())
    return (
        render_template(
            "dashboard/account.html",
            form=timezone_form,
            password_form=password_form,
            min_password=MIN_PASSWORD,
            now_utc=now,
            sessions=[(row, is_current(row, current_user.login_token)) for row in sessions],
        ),
        status,
    )


def _connect_context() -> dict:
    projects = owner_projects(db.session, current_user.id)
    token = current_user.telegram_link_token
    live = link_is_live(current_user, utcnow())
    links = [(p, owner_deep_link(p.bot_username, token)) for p in projects] if live else []
    return {
        "projects": projects,
        "links": links,
        "link_expires_at": link_expires_at(current_user) if live else None,
        "link_expired": token is not None and not live,
    }


@bp.get("/telegram")
@login_required
def connect_telegram():
    return render_page_or_fragment(
        "dashboard/connect.html", "dashboard/_connect.html", **_connect_context()
    )


@bp.post("/telegram/link")
@login_required
def new_link_token():
    if not owner_projects(db.session, current_user.id):
        flash(
            gettext("Connect a bot first: the link opens one of your projects' bots."), "warning"
        )
        return redirect(url_for("projects.new_project"), 303)
    issue_link_token(db.session, current_user, utcnow())
    db.session.commit()
    return _connect_answer(
        gettext("Open one of these links in Telegram within an hour and press START."), "info"
    )


@bp.post("/telegram/unlink")
@login_required
def unlink_telegram():
    try:
        unlink_telegram_account(db.session, current_user)
    except InvalidInput as exc:
        db.session.rollback()
        return _connect_answer(domain_message(exc), "warning")
    db.session.commit()
    return _connect_answer(gettext("Your Telegram account is unlinked."), "success")


def _connect_answer(notice: str, category: str):
    """htmx swaps the Telegram card in place with the notice; a plain form gets a redirect."""
    if request.headers.get("HX-Request") != "true":
        flash(notice, category)
        return redirect(url_for("dashboard.connect_telegram"), 303)
    return render_page_or_fragment(
        "dashboard/connect.html",
        "dashboard/_connect.html",
        notice=(category, notice),
        **_connect_context(),
    )
