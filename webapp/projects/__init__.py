"""Projects (a bot each) and their channels and groups."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from webapp import telegram
from webapp.dashboard.rendering import (
    domain_message,
    is_htmx,
    render_page_or_fragment,
    timezone_names,
)
from webapp.domain import outbox, owner_texts
from webapp.domain.bot_health import bot_health
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.projects import (
    check_new_project,
    check_replacement_token,
    create_project,
    owned_project,
    owned_resource,
    parse_chat_reference,
    project_overview,
    project_resources,
    record_resource,
    rename_project,
    replace_bot_token,
    set_project_contact,
)
from webapp.domain.resources import accept_resource, change_join_mode, dismiss_resource
from webapp.extensions import db
from webapp.i18n import LANGUAGES
from webapp.models import utcnow
from webapp.projects.forms import (
    BotTokenForm,
    JoinModeForm,
    ProjectForm,
    RenameProjectForm,
    ResourceForm,
)
from webapp.projects.text_previews import previews
from webapp.queues import get_redis
from webapp.webhook import registration

bp = Blueprint("projects", __name__, url_prefix="/projects")


def _project_or_404(project_id: int):
    try:
        return owned_project(db.session, current_user.id, project_id)
    except NotFound:
        abort(404)


def _telegram_problem(exc: telegram.TelegramError, what: str) -> str:
    """An owner-facing sentence for a Bot API failure while checking ``what`` (worded)."""
    if isinstance(exc, telegram.Unreachable):
        return gettext(
            "Telegram did not answer while we checked %(what)s. Nothing was saved; "
            "please try again in a minute.",
            what=what,
        )
    if isinstance(exc, telegram.RateLimited):
        return gettext(
            "Telegram asks us to slow down. Nothing was saved; try again in %(seconds)s s.",
            seconds=exc.retry_after or 60,
        )
    return gettext(
        "Telegram refused to check %(what)s: %(problem)s. Nothing was saved.",
        what=what, problem=exc.description,
    )


@bp.get("")
@login_required
def list_projects():
    summaries = project_overview(db.session, current_user.id)
    return render_template("projects/list.html", summaries=summaries)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_project():
    form = ProjectForm()
    form_error = None
    if form.validate_on_submit():
        name = form.name.data
        project, form_error = _save_with_checked_token(
            form,
            check=lambda: check_new_project(db.session, name, form.bot_token.data)[1],
            save=lambda token, bot: create_project(
                db.session, current_user.id, name, token, bot, utcnow()
            ),
            taken=gettext("This bot is already connected to a project."),
            subject=gettext("the bot token"),
        )
        if project is not None:
            registration.token_saved(current_app, project.id, project.bot_token)
            flash(
                gettext(
                    "Project “%(project)s” is connected to @%(bot)s. "
                    "Next: add the channels and groups the bot administers.",
                    project=project.name, bot=project.bot_username,
                ),
                "success",
            )
            return redirect(url_for("projects.show_project", project_id=project.id), 303)
    status = 400 if form.is_submitted() else 200
    if form_error:
        status = 502
    return render_template("projects/new.html", form=form, form_error=form_error), status


def _save_with_checked_token(form, *, check, save, taken: str, subject: str):
    """check() → getMe outside any transaction → save(token, bot) → commit.

    Returns (what save returned, None), or (None, a page-level error for a Telegram failure)
    with field errors put on ``form``; nothing is saved on any refusal.
    """
    try:
        token = check()
        db.session.rollback()  # no transaction (or SQLite write lock) while Telegram answers
        with telegram.while_someone_waits():
            bot = telegram.get_me(token)
            webhook = _webhook_url(token)
        saved = save(token, bot)
        db.session.commit()
        if webhook:
            flash(
                gettext(
                    "This bot had a webhook set (%(url)s): another service received its updates. "
                    "Admit's bot removes it when it starts, so that service stops hearing from "
                    "the bot.",
                    url=webhook,
                ),
                "warning",
            )
        return saved, None
    except IntegrityError:
        # The same token was saved a moment ago by another request.
        db.session.rollback()
        form.bot_token.errors.append(taken)
    except InvalidInput as exc:
        db.session.rollback()
        getattr(form, exc.field).errors.append(domain_message(exc))
    except telegram.Unauthorized:
        db.session.rollback()
        form.bot_token.errors.append(
            gettext(
                "Telegram does not accept this token. Copy it again from @BotFather "
                "(/mybots → your bot → API Token)."
            )
        )
    except telegram.TelegramError as exc:
        db.session.rollback()
        return None, _telegram_problem(exc, subject)
    return None, None


def _webhook_url(token: str) -> str | None:
    """The webhook set on the token, if any; None also when Telegram could not say."""
    try:
        return telegram.get_webhook_info(token)["url"] or None
    except telegram.TelegramError:
        return None


@bp.get("/<int:project_id>")
@login_required
def show_project(project_id: int):
    project = _project_or_404(project_id)
    return render_template(
        "projects/show.html",
        **_resources_context(project, ResourceForm(formdata=None)),
    )


@bp.get("/<int:project_id>/health")
@login_required
def project_health(project_id: int):
    project = _project_or_404(project_id)
    token, username = project.bot_token, project.bot_username
    resources = project_resources(db.session, project.id)
    db.session.rollback()  # no transaction while Telegram answers
    webhook = None
    webhook_error = None
    try:
        with telegram.while_someone_waits():
            webhook = telegram.get_webhook_info(token)["url"]
    except telegram.Unauthorized:
        webhook_error = gettext(
            "Telegram no longer accepts this bot's token (revoked in @BotFather?): the bot is "
            "dead until you paste the new token below."
        )
    except telegram.TelegramError as exc:
        webhook_error = gettext(
            "Telegram could not be asked about the webhook just now (%(problem)s).", problem=exc
        )
    health = bot_health(get_redis(), project.id, username, resources, webhook, utcnow())
    if webhook_error:
        health.problems.insert(0, webhook_error)
    context = _resources_context(project, ResourceForm(formdata=None))
    context["health"] = health
    return render_page_or_fragment(
        "projects/show.html", "projects/_health.html", **context
    )


@bp.post("/<int:project_id>/resources/<int:resource_id>/join-mode")
@login_required
def set_join_mode(project_id: int, resource_id: int):
    try:
        resource = owned_resource(db.session, current_user.id, project_id, resource_id)
    except NotFound:
        abort(404)
    project = resource.project
    form = JoinModeForm()
    if not form.validate_on_submit():
        db.session.rollback()
        message = "; ".join(e for errors in form.errors.values() for e in errors)
        notice = (
            "error",
            gettext("Nothing was changed: %(problem)s.", problem=message)
            if message
            else gettext("Nothing was changed: the form was not valid."),
        )
        return _resources_answer(project, ResourceForm(formdata=None), notice=notice, status=400)
    change_join_mode(
        db.session, resource, form.join_by_request.data, form.decline_strangers.data, utcnow()
    )
    title = resource.title
    db.session.commit()
    notice = ("success", gettext("Joining “%(chat)s” now works as chosen.", chat=title))
    if not is_htmx():
        flash(notice[1], "success")
        return redirect(url_for("projects.show_project", project_id=project.id), 303)
    return _resources_answer(project, ResourceForm(formdata=None), notice=notice)


def _resources_context(project, form, form_error=None, notice=None) -> dict:
    plans = [p for p in project.plans if p.archived_at is None]
    return {
        "project": project,
        "token_form": BotTokenForm(formdata=None),
        "token_error": None,
        "token_notice": None,
        "resources": project_resources(db.session, project.id, include_pending=True),
        "resource_form": form,
        "form_error": form_error,
        "notice": notice,
        "plan_count": len(plans),
        "undelivered": outbox.undelivered(db.session, project.id),
    }


@bp.route("/<int:project_id>/edit", methods=["GET", "POST"])
@login_required
def edit_project(project_id: int):
    project = _project_or_404(project_id)
    form = RenameProjectForm(obj=project)
    if form.validate_on_submit():
        try:
            rename_project(db.session, project, form.name.data)
            set_project_contact(db.session, project, form.contact.data)
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(domain_message(exc))
        else:
            db.session.commit()
            flash(gettext("Project saved."), "success")
            return redirect(url_for("projects.show_project", project_id=project.id), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("projects/edit.html", project=project, form=form), status


@bp.post("/<int:project_id>/token")
@login_required
def replace_token(project_id: int):
    project = _project_or_404(project_id)
    old_token = project.bot_token
    form = BotTokenForm()
    form_error = None
    if form.validate_on_submit():
        saved, form_error = _save_with_checked_token(
            form,
            check=lambda: check_replacement_token(db.session, project, form.bot_token.data),
            save=lambda token, bot: replace_bot_token(db.session, project, token, bot),
            taken=gettext("This token is already used by another project."),
            subject=gettext("the new token"),
        )
        if saved is not None:
            registration.token_saved(current_app, project.id, project.bot_token, old_token)
            notice = gettext(
                "@%(bot)s now uses the new token. The bot switches to it within half a minute.",
                bot=project.bot_username,
            )
            if not is_htmx():
                flash(notice, "success")
                return redirect(url_for("projects.show_project", project_id=project.id), 303)
            return _token_answer(project, BotTokenForm(formdata=None), notice=notice)
    status = 502 if form_error else 400
    return _token_answer(project, form, form_error=form_error, status=status)


def _token_answer(project, form, form_error=None, notice=None, status=200):
    context = _resources_context(project, ResourceForm(formdata=None))
    context.update(token_form=form, token_error=form_error, token_notice=notice)
    return render_page_or_fragment(
        "projects/show.html", "projects/_bot.html", status=status, **context
    )


@bp.post("/<int:project_id>/resources")
@login_required
def add_resource(project_id: int):
    project = _project_or_404(project_id)
    form = ResourceForm()
    form_error = None
    status = 400
    if form.validate_on_submit():
        try:
            ref = parse_chat_reference(form.chat.data)
            project_id, token, bot_id = project.id, project.bot_token, project.bot_user_id
            db.session.rollback()  # no transaction (or SQLite write lock) while Telegram answers
            with telegram.while_someone_waits():
                chat = telegram.get_chat(token, ref)
                member = telegram.get_chat_member(token, chat["id"], bot_id)
            resource, created = _save_resource(project_id, chat, member)
        except InvalidInput as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(domain_message(exc))
        except telegram.ChatNotFound:
            db.session.rollback()
            form.chat.errors.append(
                gettext(
                    "@%(bot)s cannot see this chat. Check the @username or id, and "
                    "add the bot to the channel or group as an administrator first.",
                    bot=project.bot_username,
                )
            )
        except telegram.NotEnoughRights:
            db.session.rollback()
            form.chat.errors.append(
                gettext(
                    "@%(bot)s is not a member there. Add it as an administrator "
                    "first, then try again.",
                    bot=project.bot_username,
                )
            )
        except telegram.Unauthorized:
            db.session.rollback()
            form_error = gettext(
                "Telegram no longer accepts this project's bot token (was it revoked in "
                "@BotFather?). Nothing was saved."
            )
        except telegram.TelegramError as exc:
            db.session.rollback()
            form_error = _telegram_problem(exc, gettext("the chat"))
        else:
            if created:
                notice = gettext("“%(chat)s” added.", chat=resource.title)
            else:
                notice = gettext("“%(chat)s” updated.", chat=resource.title)
            if not resource.is_usable:
                notice += " " + gettext(
                    "The bot still needs the rights to invite and to ban users there."
                )
            if not is_htmx():
                flash(notice, "success" if resource.is_usable else "warning")
                return redirect(url_for("projects.show_project", project_id=project.id), 303)
            form = ResourceForm(formdata=None)
            return _resources_answer(
                project, form, notice=("success" if resource.is_usable else "warning", notice)
            )
    if form_error:
        status = 502
    return _resources_answer(project, form, form_error=form_error, status=status)


def _save_resource(project_id: int, chat: dict, member: dict):
    """Record and commit; if the bot process recorded the same chat meanwhile, update that row."""
    try:
        saved = record_resource(db.session, project_id, chat, member, utcnow(), require_admin=True)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        saved = record_resource(db.session, project_id, chat, member, utcnow(), require_admin=True)
        db.session.commit()
    return saved


@bp.post("/<int:project_id>/resources/<int:resource_id>/check")
@login_required
def check_resource(project_id: int, resource_id: int):
    try:
        resource = owned_resource(db.session, current_user.id, project_id, resource_id)
    except NotFound:
        abort(404)
    project = resource.project
    token, chat_id, bot_id = project.bot_token, resource.chat_id, project.bot_user_id
    db.session.rollback()  # no transaction (or SQLite write lock) while Telegram answers
    try:
        with telegram.while_someone_waits():
            chat = telegram.get_chat(token, chat_id)
            member = telegram.get_chat_member(token, chat_id, bot_id)
    except (telegram.ChatNotFound, telegram.NotEnoughRights):
        # The bot was removed from the chat: it can no longer invite or remove anyone there.
        chat = {
            "id": resource.chat_id,
            "type": resource.chat_type,
            "title": resource.title,
            "username": resource.username,
        }
        member = {"status": "left"}
    except telegram.TelegramError as exc:
        notice = ("error", _telegram_problem(exc, gettext("the chat")))
        return _resources_answer(project, ResourceForm(formdata=None), notice=notice, status=502)
    resource, _ = record_resource(
        db.session, project.id, chat, member, utcnow(), require_admin=False
    )
    db.session.commit()
    if resource.is_usable:
        notice = (
            "success",
            gettext(
                "“%(chat)s” is ready: the bot can invite and remove members.", chat=resource.title
            ),
        )
    else:
        notice = (
            "warning",
            gettext(
                "“%(chat)s” still needs the bot as an administrator with "
                "the rights to invite and to ban users.",
                chat=resource.title,
            ),
        )
    if not is_htmx():
        flash(notice[1], notice[0])
        return redirect(url_for("projects.show_project", project_id=project.id), 303)
    return _resources_answer(project, ResourceForm(formdata=None), notice=notice)


@bp.post("/<int:project_id>/resources/<int:resource_id>/accept")
@login_required
def accept_pending_resource(project_id: int, resource_id: int):
    try:
        resource = owned_resource(db.session, current_user.id, project_id, resource_id)
        accept_resource(db.session, resource, utcnow())
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        db.session.rollback()
        return _pending_answer(project_id, ("info", domain_message(exc)))
    title = resource.title
    db.session.commit()
    notice = ("success", gettext("“%(chat)s” is now one of this project's chats.", chat=title))
    return _pending_answer(project_id, notice)


@bp.post("/<int:project_id>/resources/<int:resource_id>/dismiss")
@login_required
def dismiss_pending_resource(project_id: int, resource_id: int):
    try:
        resource = owned_resource(db.session, current_user.id, project_id, resource_id)
        dismiss_resource(db.session, resource)
    except NotFound:
        abort(404)
    db.session.commit()
    return _pending_answer(project_id, ("success", gettext("The chat is dismissed.")))


def _pending_answer(project_id: int, notice):
    project = _project_or_404(project_id)
    if not is_htmx():
        flash(notice[1], notice[0])
        return redirect(url_for("projects.show_project", project_id=project.id), 303)
    return _resources_answer(project, ResourceForm(formdata=None), notice=notice)


def _resources_answer(project, form, form_error=None, notice=None, status=200):
    return render_page_or_fragment(
        "projects/show.html",
        "projects/_resources.html",
        status=status,
        **_resources_context(project, form, form_error=form_error, notice=notice),
    )


# ---- the bot's languages and the owner's own texts -----------------------------------------


def _texts_page(project, lang, templates, errors=None, settings_errors=None, settings=None):
    return render_template(
        "projects/texts.html",
        project=project,
        lang=lang,
        languages=LANGUAGES,
        kinds=owner_texts.KINDS,
        templates=templates,
        errors=errors or {},
        previews=previews(project, lang, templates, utcnow()),
        settings=settings
        or {"default_language": project.default_language, "timezone": project.timezone},
        settings_errors=settings_errors or {},
        timezones=timezone_names(),
    )


def _language_arg(project) -> str:
    lang = request.values.get("lang") or project.default_language
    return lang if lang in LANGUAGES else project.default_language


@bp.get("/<int:project_id>/texts")
@login_required
def project_texts(project_id: int):
    project = _project_or_404(project_id)
    lang = _language_arg(project)
    templates = owner_texts.project_texts(db.session, project.id, lang)
    return _texts_page(project, lang, templates)


@bp.post("/<int:project_id>/texts")
@login_required
def save_project_texts(project_id: int):
    project = _project_or_404(project_id)
    lang = request.form.get("lang", "")
    templates = {key: request.form.get(key, "") for key in owner_texts.KINDS}
    if lang not in LANGUAGES:
        errors = {"lang": gettext("Pick a language from the list.")}
        return _texts_page(project, project.default_language, templates, errors), 400
    try:
        owner_texts.save_project_texts(db.session, project.id, lang, templates, utcnow())
    except InvalidInput:
        db.session.rollback()
        problems = owner_texts.check_templates(templates)
        errors = {key: domain_message(problem) for key, problem in problems.items()}
        return _texts_page(project, lang, templates, errors), 400
    db.session.commit()
    flash(gettext("The bot's %(language)s texts are saved.", language=LANGUAGES[lang]), "success")
    return redirect(url_for("projects.project_texts", project_id=project.id, lang=lang), 303)


@bp.post("/<int:project_id>/texts/preview")
@login_required
def preview_project_texts(project_id: int):
    project = _project_or_404(project_id)
    lang = _language_arg(project)
    templates = {key: request.form.get(key, "") for key in owner_texts.KINDS}
    response = render_template(
        "projects/_text_previews.html",
        project=project,
        kinds=owner_texts.KINDS,
        previews=previews(project, lang, templates, utcnow()),
    )
    db.session.rollback()
    return response


@bp.post("/<int:project_id>/languages")
@login_required
def save_project_languages(project_id: int):
    project = _project_or_404(project_id)
    settings = {
        "default_language": request.form.get("default_language", ""),
        "timezone": request.form.get("timezone", ""),
    }
    try:
        owner_texts.set_project_languages(
            db.session, project, settings["default_language"], settings["timezone"]
        )
    except InvalidInput as exc:
        db.session.rollback()
        lang = _language_arg(project)
        templates = owner_texts.project_texts(db.session, project.id, lang)
        return _texts_page(
            project, lang, templates, settings_errors={exc.field: domain_message(exc)},
            settings=settings,
        ), 400
    db.session.commit()
    flash(
        gettext(
            "Customers the bot has no language for now read %(language)s; "
            "dates are shown in %(zone)s.",
            language=LANGUAGES[project.default_language], zone=project.timezone,
        ),
        "success",
    )
    return redirect(url_for("projects.project_texts", project_id=project.id), 303)
