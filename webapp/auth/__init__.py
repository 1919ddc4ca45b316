"""Owner sign-up, log-in and log-out."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from webapp import telegram
from webapp.auth.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm, SignupForm
from webapp.dashboard.rendering import domain_message
from webapp.domain.accounts import EMAIL_UNAVAILABLE, authenticate, create_owner
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.password_reset import (
    RESET_LIFETIME,
    owner_for_reset,
    request_reset,
    set_new_password,
)
from webapp.domain.ratelimit import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_DAYS,
    LoginBlocked,
    SignupBlocked,
    login_blocked,
    new_device_token,
    record_login_failure,
    record_login_success,
    signup_blocked,
)
from webapp.domain.sessions import (
    Lifetimes,
    end_session,
    needs_touch,
    resume_session,
    start_session,
)
from webapp.extensions import db, login_manager
from webapp.models import Owner, utcnow
from webapp.queues import get_redis

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"


def session_lifetimes() -> Lifetimes:
    return Lifetimes(
        idle=timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]),
        max_age=timedelta(days=current_app.config["SESSION_MAX_DAYS"]),
    )


@login_manager.user_loader
def load_owner(login_token: str) -> Owner | None:
    now = utcnow()
    found = resume_session(db.session, login_token, now, session_lifetimes())
    if found is None:
        return None  # logged out, idle too long, too old, or ended from another session
    owner, row = found
    if needs_touch(row, now):
        # The owner is loaded before the view does anything, so this commits only the touch.
        row.last_seen_at = now
        db.session.commit()
    return owner


def client_ip() -> str:
    """The client's address: ProxyFix (TRUSTED_PROXIES) has put the proxies' word in
    ``remote_addr`` already, and nobody else's."""
    return request.remote_addr or "unknown"


def log_in(owner: Owner) -> None:
    """A fresh session (no CSRF secret or anything else carried over from before the log-in)
    holding a new revocable log-in."""
    session.clear()
    start_session(
        db.session, owner, utcnow(), request.user_agent.string or None, client_ip()
    )
    db.session.commit()
    login_user(owner)


@login_manager.unauthorized_handler
def send_to_login():
    # After logging in, a GET is repeated; a POST (a form sent with an expired session) is not.
    next_path = _local_path(request.full_path) if request.method == "GET" else None
    target = url_for("auth.login", next=next_path)
    if request.headers.get("HX-Request"):
        # An htmx request would swap the log-in page into a fragment; send the whole page there.
        return "", 401, {"HX-Redirect": target}
    flash(gettext("Please log in to see this page."), "info")
    return redirect(target)


def throttle_message(blocked: LoginBlocked | SignupBlocked) -> str:
    """Why the form is refused for now, and for how long."""
    if isinstance(blocked, SignupBlocked):
        return ngettext(
            "Too many requests from your address. Please try again in %(num)s minute.",
            "Too many requests from your address. Please try again in %(num)s minutes.",
            blocked.minutes,
        )
    if blocked.slowed:
        return ngettext(
            "Many wrong passwords were tried for this account. Please try again in %(num)s "
            "second.",
            "Many wrong passwords were tried for this account. Please try again in %(num)s "
            "seconds.",
            blocked.retry_after_seconds,
        )
    return ngettext(
        "Too many wrong passwords. Please try again in %(num)s minute.",
        "Too many wrong passwords. Please try again in %(num)s minutes.",
        blocked.minutes,
    )


def _local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target.rstrip("?") or None


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = SignupForm()
    if form.validate_on_submit():
        blocked = signup_blocked(get_redis(), client_ip(), utcnow())
        if blocked:
            return (
                render_template(
                    "auth/signup.html", form=form, form_error=throttle_message(blocked)
                ),
                429,
                {"Retry-After": str(blocked.retry_after_seconds)},
            )
        try:
            owner = create_owner(db.session, form.email.data, form.password.data, utcnow())
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(domain_message(exc))
        except IntegrityError:
            # The same e-mail signed up a moment ago in another request.
            db.session.rollback()
            form.email.errors.append(domain_message(EMAIL_UNAVAILABLE))
        else:
            log_in(owner)
            flash(gettext("Welcome to Admit! Start by connecting your first bot."), "success")
            return redirect(url_for("projects.new_project"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = _local_path(request.args.get("next")) or ""
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/login.html", form=form), status

    redis = get_redis()
    now = utcnow()
    email, ip = form.email.data, client_ip()
    device = request.cookies.get(DEVICE_COOKIE)
    blocked = login_blocked(redis, email, ip, device, now)
    if blocked:
        return (
            render_template("auth/login.html", form=form, form_error=throttle_message(blocked)),
            429,
            {"Retry-After": str(blocked.retry_after_seconds)},
        )
    owner = authenticate(db.session, email, form.password.data)
    if owner is None:
        record_login_failure(redis, email, ip, now)
        return (
            render_template(
                "auth/login.html", form=form, form_error=gettext("Wrong e-mail or password.")
            ),
            400,
        )
    device = device or new_device_token()
    record_login_success(redis, email, ip, device, now)
    log_in(owner)
    response = redirect(_local_path(form.next.data) or url_for("dashboard.home"))
    response.set_cookie(
        DEVICE_COOKIE,
        device,
        max_age=DEVICE_COOKIE_DAYS * 86400,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.post("/logout")
@login_required
def logout():
    end_session(db.session, current_user.login_token, utcnow())
    db.session.commit()
    logout_user()
    session.clear()
    flash(gettext("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/forgot.html", form=form), status
    blocked = signup_blocked(get_redis(), client_ip(), utcnow(), kind="reset")
    if blocked:
        return (
            render_template("auth/forgot.html", form=form, form_error=throttle_message(blocked)),
            429,
            {"Retry-After": str(blocked.retry_after_seconds)},
        )
    delivery = request_reset(db.session, form.email.data, utcnow())
    db.session.commit()
    if delivery is not None:
        path = url_for("auth.reset_password", token=delivery.token)
        link = current_app.config["PUBLIC_URL"] + path
        minutes = int(RESET_LIFETIME.total_seconds() // 60)
        try:
            telegram.send_message(
                delivery.bot_token,
                delivery.chat_id,
                "🔑 Someone asked to reset your Admit password. If it was you, open this link "
                f"within {minutes} minutes:\n{link}\nIf not, ignore this message.",
                parse_mode=None,
            )
        except telegram.TelegramError as exc:
            current_app.logger.warning("password reset link not sent: %s", exc)
    flash(
        gettext(
            "If this address has an account with a linked Telegram account, its bot has just "
            "sent you a link to choose a new password. Otherwise ask the operator of this Admit "
            "to reset it."
        ),
        "info",
    )
    return redirect(url_for("auth.login"), 303)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    form = ResetPasswordForm()
    try:
        owner = owner_for_reset(db.session, token, utcnow())
    except NotFound:
        return render_template("auth/reset.html", form=None), 404
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/reset.html", form=form), status
    try:
        set_new_password(
            db.session, owner, form.new_password.data, form.repeat_password.data, utcnow()
        )
    except InvalidInput as exc:
        db.session.rollback()
        getattr(form, exc.field).errors.append(domain_message(exc))
        return render_template("auth/reset.html", form=form), 400
    db.session.commit()
    logout_user()
    session.clear()
    flash(
        gettext("Your password is changed and every session is logged out. Log in with it."),
        "success",
    )
    return redirect(url_for("auth.login"), 303)
