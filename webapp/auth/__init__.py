"""Owner sign-up, log-in and log-out."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from webapp.auth.forms import LoginForm, SignupForm
from webapp.domain.accounts import authenticate, create_owner
from webapp.domain.errors import InvalidInput
from webapp.domain.ratelimit import clear_login_failures, login_blocked, record_login_failure
from webapp.extensions import db, login_manager
from webapp.models import Owner, password_fingerprint, utcnow
from webapp.queues import get_redis

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_owner(session_id: str) -> Owner | None:
    owner_id, _, fingerprint = session_id.partition(".")
    if not owner_id.isdigit():
        return None
    owner = db.session.get(Owner, int(owner_id))
    if owner is None or fingerprint != password_fingerprint(owner.password_hash):
        return None  # the password changed since this session logged in
    return owner


@login_manager.unauthorized_handler
def send_to_login():
    # After logging in, a GET is repeated; a POST (a form sent with an expired session) is not.
    next_path = _local_path(request.full_path) if request.method == "GET" else None
    target = url_for("auth.login", next=next_path)
    if request.headers.get("HX-Request"):
        # An htmx request would swap the log-in page into a fragment; send the whole page there.
        return "", 401, {"HX-Redirect": target}
    flash(login_manager.login_message, "info")
    return redirect(target)


def _local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target.rstrip("?") or None


def _client_ip() -> str:
    if current_app.config.get("ADMIT_ENV") == "production":
        # Heroku's router appends the address it saw last; earlier entries are the client's word.
        return request.access_route[-1] if request.access_route else "unknown"
    return request.remote_addr or "unknown"


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            owner = create_owner(db.session, form.email.data, form.password.data, utcnow())
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(exc.message)
        except IntegrityError:
            # The same e-mail signed up a moment ago in another request.
            db.session.rollback()
            form.email.errors.append("An account with this e-mail already exists.")
        else:
            login_user(owner)
            flash("Welcome to Admit! Start by connecting your first bot.", "success")
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
    email, ip = form.email.data, _client_ip()
    blocked = login_blocked(redis, email, ip, now)
    if blocked:
        return (
            render_template("auth/login.html", form=form, form_error=blocked.message),
            429,
            {"Retry-After": str(blocked.retry_after_seconds)},
        )
    owner = authenticate(db.session, email, form.password.data)
    if owner is None:
        record_login_failure(redis, email, ip, now)
        return (
            render_template("auth/login.html", form=form, form_error="Wrong e-mail or password."),
            400,
        )
    clear_login_failures(redis, email, ip, now)
    login_user(owner)
    return redirect(_local_path(form.next.data) or url_for("dashboard.home"))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
