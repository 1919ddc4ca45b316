"""The sandbox Telegram's web client: chats with the sandbox bots, as the owner or a customer."""

from datetime import timedelta
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from webapp import clock, telegram
from webapp.dashboard.rendering import domain_message, is_htmx
from webapp.domain.errors import InvalidInput
from webapp.domain.sandbox import (
    create_sandbox_project,
    customer_persona,
    new_sandbox_bot,
    owner_persona,
    parse_sandbox_link,
    persona_for,
    persona_ids,
    sandbox_projects,
)
from webapp.domain.sessions import move_sessions_with_the_clock
from webapp.extensions import db
from webapp.i18n import D_
from webapp.models import utcnow
from webapp.queues import get_queue, get_redis
from webapp.sandbox.client import SandboxClient, SandboxRefused, SandboxUnavailable
from webapp.sandbox.rendering import message_html

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")

CLOCK_STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
INVITE_RESULTS = {
    "joined": D_("You joined %(title)s."),
    "requested": D_("You asked to join %(title)s; an administrator must approve."),
    "refused:invalid": D_("This invite link is not valid."),
    "refused:revoked": D_("This invite link was revoked."),
    "refused:expired": D_("This invite link has expired."),
    "refused:banned": D_("You were removed from this chat and cannot join with this link."),
    "refused:already_member": D_("You are already a member."),
    "refused:limit_reached": D_("This invite link was already used by someone else."),
    "refused:already_requested": D_("You already asked to join."),
}


def _client() -> SandboxClient:
    return SandboxClient(current_app.config["SANDBOX_API_URL"])


def clock_control_allowed() -> bool:
    """The clock control moves every process's time: a development tool only."""
    return current_app.config.get("ADMIT_ENV") != "production" and clock.fake_clock_allowed(
        current_app._get_current_object()
    )


def _persona():
    try:
        return persona_for(current_user.id, int(session.get("sandbox_persona") or 0))
    except (InvalidInput, ValueError):
        return owner_persona(current_user.id)


def _project_or_404(project_id: int):
    for project in sandbox_projects(db.session, current_user.id):
        if project.id == project_id:
            return project
    abort(404)


def _messages(project, persona) -> list[dict]:
    shown = []
    for msg in _client().call("conversation", token=project.bot_token, user_id=persona.user_id):
        shown.append({
            "id": msg["message_id"],
            "mine": msg.get("from", {}).get("id") == persona.user_id,
            "html": message_html(msg.get("text"), msg.get("entities")),
            "caption": message_html(msg.get("caption"), msg.get("caption_entities")),
            "document": msg.get("document"),
            "buttons": [
                [_button(b) for b in row]
                for row in (msg.get("reply_markup") or {}).get("inline_keyboard", [])
            ],
        })
    return shown


def _button(button: dict) -> dict:
    if "callback_data" in button:
        return {"text": button["text"], "kind": "callback", "data": button["callback_data"]}
    url = button.get("url") or ""
    try:
        parse_sandbox_link(url)
        return {"text": button["text"], "kind": "open", "url": url}
    except InvalidInput:
        safe = url.startswith(("https://", "http://", "tg://"))
        return {"text": button["text"], "kind": "external", "url": url if safe else None}


def _conversation_context(project, persona) -> dict:
    return {"project": project, "persona": persona, "messages": _messages(project, persona)}


def _unavailable(exc: Exception):
    body = render_template("sandbox/unavailable.html", problem=str(exc))
    return body, 503


@bp.errorhandler(SandboxUnavailable)
def sandbox_unavailable(exc: SandboxUnavailable):
    return _unavailable(exc)


@bp.errorhandler(SandboxRefused)
def sandbox_refused(exc: SandboxRefused):
    # Whatever the sandbox refused (a message or chat that is gone), the person gets a sentence.
    flash(gettext("The sandbox Telegram refused that: %(problem)s", problem=exc), "error")
    return redirect(url_for("sandbox.page"), 303)


@bp.get("")
@login_required
def page():
    projects = sandbox_projects(db.session, current_user.id)
    persona = _persona()
    selected = None
    project_id = request.args.get("bot", type=int)
    if project_id is None and projects:
        project_id = projects[0].id
    if project_id is not None:
        selected = _project_or_404(project_id)
    try:
        low, high = persona_ids(current_user.id)
        people = [owner_persona(current_user.id)] + [
            persona_for(current_user.id, user["id"])
            for user in _client().call("users_between", low=low + 1, high=high)
        ]
        if persona not in people:
            people.append(persona)
        chats = _client().call("chats_of", user_id=persona.user_id)
        conversation = _conversation_context(selected, persona) if selected else None
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    return render_template(
        "sandbox/page.html",
        projects=projects,
        persona=persona,
        people=people,
        chats=chats,
        selected=selected,
        conversation=conversation,
        start=request.args.get("start"),
        now=clock.now(),
        clock_control=clock_control_allowed(),
    )


@bp.get("/conversation/<int:project_id>")
@login_required
def conversation(project_id: int):
    project = _project_or_404(project_id)
    try:
        context = _conversation_context(project, _persona())
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    return render_template("sandbox/_conversation.html", **context)


def _back_to(project_id: int | None):
    if is_htmx() and project_id is not None:
        project = _project_or_404(project_id)
        try:
            body = render_template(
                "sandbox/_conversation.html", **_conversation_context(project, _persona())
            )
        except SandboxUnavailable as exc:
            return _unavailable(exc)
        return body
    return redirect(url_for("sandbox.page", bot=project_id), 303)


@bp.post("/persona")
@login_required
def switch_persona():
    choice = request.form.get("persona", "")
    project_id = request.form.get("bot", type=int)
    try:
        if choice == "new":
            low, high = persona_ids(current_user.id)
            existing = _client().call("users_between", low=low + 1, high=high)
            persona = customer_persona(current_user.id, len(existing) + 1)
            _client().call("add_user", user_id=persona.user_id, first_name=persona.first_name)
        else:
            persona = persona_for(current_user.id, int(choice))
    except (InvalidInput, ValueError):
        flash(gettext("Pick one of your sandbox people."), "error")
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    session["sandbox_persona"] = persona.user_id
    start = request.form.get("start") or None
    return redirect(url_for("sandbox.page", bot=project_id, start=start), 303)


@bp.post("/send/<int:project_id>")
@login_required
def send(project_id: int):
    project = _project_or_404(project_id)
    text = (request.form.get("text") or "").strip()
    if not text or len(text) > 4096:
        flash(gettext("Type a message of 1 to 4096 characters."), "error")
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    try:
        _client().call(
            "send_message", token=project.bot_token, user_id=_persona().user_id, text=text
        )
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    return _back_to(project_id)


@bp.post("/press/<int:project_id>")
@login_required
def press(project_id: int):
    project = _project_or_404(project_id)
    message_id = request.form.get("message_id", type=int)
    data = request.form.get("data") or ""
    try:
        _client().call(
            "press_button",
            token=project.bot_token,
            user_id=_persona().user_id,
            message_id=message_id or 0,
            data=data,
        )
    except SandboxRefused:
        flash(gettext("That button is not on that message any more."), "error")
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    return _back_to(project_id)


@bp.post("/open")
@login_required
def open_link():
    """A t.me link tapped in a message or pasted: a bot's start link or an invite link."""
    project_id = request.form.get("bot", type=int)
    try:
        kind, target, payload = parse_sandbox_link(request.form.get("link", ""))
    except InvalidInput as exc:
        flash(domain_message(exc), "error")
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    if kind == "start":
        for project in sandbox_projects(db.session, current_user.id):
            if project.bot_username.lower() == target.lower():
                return redirect(url_for("sandbox.page", bot=project.id, start=payload), 303)
        flash(gettext("@%(bot)s is not one of your sandbox bots.", bot=target), "error")
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    persona = _persona()
    try:
        before = {c["id"] for c in _client().call("chats_of", user_id=persona.user_id)}
        result = _client().call("open_invite_link", user_id=persona.user_id, invite_link=target)
        after = _client().call("chats_of", user_id=persona.user_id)
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    joined = [c["title"] for c in after if c["id"] not in before]
    title = ", ".join(joined) or gettext("the chat")
    # An outcome this list does not know is shown in the sandbox's own word.
    message = gettext(INVITE_RESULTS[result], title=title) if result in INVITE_RESULTS else result
    flash(message, "success" if result == "joined" else "error")
    return redirect(url_for("sandbox.page", bot=project_id), 303)


@bp.post("/leave/<int:chat_id>")
@login_required
def leave(chat_id: int):
    project_id = request.form.get("bot", type=int)
    persona = _persona()
    try:
        mine = {c["id"]: c for c in _client().call("chats_of", user_id=persona.user_id)}
        if chat_id in mine and mine[chat_id]["status"] == "member":
            _client().call("user_leaves", chat_id=chat_id, user_id=persona.user_id)
            flash(gettext("You left %(title)s.", title=mine[chat_id]["title"]), "success")
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    return redirect(url_for("sandbox.page", bot=project_id), 303)


@bp.get("/file/<int:project_id>/<file_id>")
@login_required
def download(project_id: int, file_id: str):
    project = _project_or_404(project_id)
    try:
        content, name, mime = _client().file(project.bot_token, file_id)
    except SandboxRefused:
        abort(404)
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    disposition = "attachment; filename*=UTF-8''" + quote(name, safe="")
    return Response(content, mimetype=mime, headers={"Content-Disposition": disposition})


@bp.post("/clock")
@login_required
def move_clock():
    """Development only: move the product's one clock and the sandbox's forward, then sweep."""
    if not clock_control_allowed():
        abort(404)
    choice = request.form.get("step", "")
    step = CLOCK_STEPS.get(choice)
    project_id = request.form.get("bot", type=int)
    if choice == "real":
        # Back to the real time: whatever a moved clock made due stays done.
        try:
            _client().call("set_clock", unix_time=clock.wall_now().timestamp())
        except SandboxUnavailable as exc:
            return _unavailable(exc)
        move_sessions_with_the_clock(db.session, current_user.id, clock.wall_now() - clock.now())
        db.session.commit()
        clock.set_fake_now(get_redis(), None)
        flash(gettext("The clock is back to the real time."), "success")
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    if step is None:
        flash(
            gettext("Pick how far to move the clock: an hour, a day or a week (or the real time)."),
            "error",
        )
        return redirect(url_for("sandbox.page", bot=project_id), 303)
    moment = clock.now() + step
    try:
        _client().call("set_clock", unix_time=moment.timestamp())
    except SandboxUnavailable as exc:
        return _unavailable(exc)
    move_sessions_with_the_clock(db.session, current_user.id, step)
    db.session.commit()
    clock.set_fake_now(get_redis(), moment, ticking=True)
    from webapp import jobs

    # The minute's sweep would find what is due anyway; this one shows it at once.
    get_queue().enqueue(jobs.sweep_lifecycle, job_timeout=jobs.SWEEP_TIMEOUT)
    flash(
        gettext("The clock now reads %(when)s UTC.", when=moment.strftime("%d %b %Y, %H:%M")),
        "success",
    )
    return redirect(url_for("sandbox.page", bot=project_id), 303)


@bp.post("/projects")
@login_required
def new_project():
    """Try with a sandbox bot: a project whose bot administers a sandbox channel and group."""
    name = (request.form.get("name") or "").strip() or gettext("Sandbox club")
    if len(name) > 100:
        flash(gettext("Use at most %(num)s characters for the name.", num=100), "error")
        return redirect(url_for("projects.new_project"), 303)
    bot = new_sandbox_bot(name)
    owner = owner_persona(current_user.id)
    try:
        _client().provision(bot, owner, name)
    except (SandboxUnavailable, SandboxRefused) as exc:
        flash(gettext("The sandbox Telegram is not running: %(problem)s", problem=exc), "error")
        return redirect(url_for("projects.new_project"), 303)
    # From here on it is the path of a real bot: getMe, getChat, getChatMember over the Bot API.
    telegram.route_to_sandbox(bot.token)
    try:
        with telegram.while_someone_waits():
            me = telegram.get_me(bot.token)
            chats = [
                (
                    telegram.get_chat(bot.token, chat_id),
                    telegram.get_chat_member(bot.token, chat_id, bot.user_id),
                )
                for chat_id in (bot.channel_id, bot.group_id)
            ]
        project = create_sandbox_project(
            db.session, current_user.id, name, bot.token, me, chats, utcnow()
        )
        db.session.commit()
    except (telegram.TelegramError, InvalidInput, IntegrityError) as exc:
        db.session.rollback()
        problem = domain_message(exc) if isinstance(exc, InvalidInput) else exc
        flash(gettext("The sandbox bot could not be set up: %(problem)s", problem=problem), "error")
        return redirect(url_for("projects.new_project"), 303)
    flash(
        gettext(
            "Sandbox project “%(project)s” is ready: @%(bot)s administers “%(channel)s” and "
            "“%(group)s” in the sandbox Telegram. Next: make a plan.",
            project=project.name, bot=project.bot_username,
            channel=name + " Channel", group=name + " Chat",
        ),
        "success",
    )
    return redirect(url_for("projects.show_project", project_id=project.id), 303)
