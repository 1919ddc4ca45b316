"""Webhook mode: Telegram posts updates to the web app with the project's secret, a worker hands
them to the same handlers as polling, and the webhooks follow projects, tokens and BOT_MODE."""

import re
import threading
from dataclasses import dataclass

import pytest
from rq import Queue
from rq.worker import SimpleWorker
from werkzeug.serving import make_server

import webapp.worker
from tests import factories
from tests.bot_process import unique_id
from tests.conftest import NOW
from webapp import telegram
from webapp.config import bot_mode
from webapp.extensions import db
from webapp.models import utcnow
from webapp.queues import get_redis
from webapp.telegram_emulator import BotApiEmulator
from webapp.webhook import UPDATES_QUEUE, registration

CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@pytest.fixture(scope="module")
def emu():
    emulator = BotApiEmulator(clock_start=NOW.timestamp()).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def live(app, emu, monkeypatch):
    """The web app on a real port (Telegram must reach it), in webhook mode, against the emulator;
    jobs run with this app."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(
        BOT_MODE="webhook",
        PUBLIC_URL=f"http://127.0.0.1:{server.server_port}",
        TELEGRAM_API_URL=emu.url,
        WEBHOOK_HANDLING="queue",  # most tests here follow an update through RQ
    )
    telegram.configure(emu.url)
    monkeypatch.setattr(webapp.worker, "_app", app)
    with app.app_context():
        yield app
        db.session.remove()
    server.shutdown()
    thread.join(5)
    telegram.configure(app.config["TELEGRAM_API_URL"])


@dataclass
class ProjectRef:
    id: int
    bot_token: str
    bot_user_id: int
    bot_username: str


def a_project(emu, owner=None) -> ProjectRef:
    """A committed project with its bot in the emulator. Its values are copied out: reading a
    committed row again would open a transaction, which on SQLite holds the write lock."""
    n = unique_id()
    token = f"{700000 + n}:HOOK-{n}"
    emu.add_bot(token, username=f"Hook{n}Bot")
    owner = owner or factories.make_owner()
    project = factories.make_project(owner, bot_token=token, bot_user_id=700000 + n,
                                     bot_username=f"Hook{n}Bot")
    db.session.flush()
    ref = ProjectRef(project.id, token, 700000 + n, f"Hook{n}Bot")
    db.session.commit()
    return ref


def set_deleted(project_id: int) -> None:
    db.session.get(factories.Project, project_id).deleted_at = utcnow()
    db.session.commit()


def set_token(project_id: int, token: str) -> None:
    db.session.get(factories.Project, project_id).bot_token = token
    db.session.commit()


def updates_queue() -> Queue:
    return Queue(UPDATES_QUEUE, connection=get_redis())


def run_jobs() -> None:
    db.session.rollback()
    SimpleWorker([updates_queue()], connection=get_redis()).work(burst=True)


# ---- configuration ------------------------------------------------------------------------------


def test_webhook_mode_is_the_default_only_with_a_public_https_address():
    assert bot_mode(None, "https://admit.example.com") == "webhook"
    assert bot_mode(None, "http://127.0.0.1:5000") == "polling"
    assert bot_mode("polling", "https://admit.example.com") == "polling"
    with pytest.raises(RuntimeError, match="polling or webhook"):
        bot_mode("carrier-pigeon", "https://admit.example.com")


def test_each_project_and_token_has_its_own_secret_of_the_characters_telegram_allows():
    one = registration.secret_for("key", 1, "1:AAA")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", one)
    assert one != registration.secret_for("key", 2, "1:AAA")
    assert one != registration.secret_for("key", 1, "1:BBB")
    assert one != registration.secret_for("other key", 1, "1:AAA")


def test_plain_http_is_refused_against_telegram_and_allowed_against_a_local_bot_api(app):
    app.config.update(PUBLIC_URL="http://admit.test", TELEGRAM_API_URL="https://api.telegram.org")
    with pytest.raises(registration.WebhookUrlRefused, match="https"):
        registration.webhook_url(app, 7)
    app.config.update(PUBLIC_URL="https://admit.test")
    assert registration.webhook_url(app, 7) == "https://admit.test/telegram/webhook/7"
    app.config.update(PUBLIC_URL="http://admit.test", TELEGRAM_API_URL="http://127.0.0.1:8081")
    assert registration.webhook_url(app, 7) == "http://admit.test/telegram/webhook/7"


# ---- the endpoint -------------------------------------------------------------------------------


def an_update(update_id: int = 1) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "A"}, "text": "hi"}}


def post(client, project, update, secret):
    headers = {} if secret is None else {registration.SECRET_HEADER: secret}
    return client.post(f"/telegram/webhook/{project.id}", json=update, headers=headers)


def test_an_update_with_the_wrong_secret_or_none_is_refused_and_not_queued(app, app_ctx, client):
    project = factories.make_project(factories.make_owner())
    db.session.commit()
    other_secret = registration.secret_for(app.config["SECRET_KEY"], project.id + 1,
                                           project.bot_token)
    assert post(client, project, an_update(), None).status_code == 403
    assert post(client, project, an_update(), "").status_code == 403
    assert post(client, project, an_update(), other_secret).status_code == 403
    assert updates_queue().count == 0


def test_the_right_secret_queues_the_update_and_answers_at_once(app, app_ctx, client):
    app.config["WEBHOOK_HANDLING"] = "queue"
    project = factories.make_project(factories.make_owner())
    db.session.commit()
    secret = registration.secret_for(app.config["SECRET_KEY"], project.id, project.bot_token)

    answer = post(client, project, an_update(41), secret)

    assert answer.status_code == 200
    [job] = updates_queue().get_jobs()
    assert job.args == (project.id, an_update(41))


def test_what_is_not_an_update_is_a_400_and_an_unknown_project_a_404(app, app_ctx, client):
    project = factories.make_project(factories.make_owner())
    db.session.commit()
    secret = registration.secret_for(app.config["SECRET_KEY"], project.id, project.bot_token)
    assert post(client, project, {"message": "no id"}, secret).status_code == 400
    assert post(client, project, ["a", "list"], secret).status_code == 400
    answer = client.post(f"/telegram/webhook/{project.id}", data="{not json",
                         headers={registration.SECRET_HEADER: secret,
                                  "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert client.post("/telegram/webhook/999999", json=an_update()).status_code == 404
    assert updates_queue().count == 0


def test_a_removed_project_takes_no_more_updates(app, app_ctx, client):
    project = factories.make_project(factories.make_owner())
    project.deleted_at = utcnow()
    db.session.commit()
    secret = registration.secret_for(app.config["SECRET_KEY"], project.id, project.bot_token)
    assert post(client, project, an_update(), secret).status_code == 404
    assert updates_queue().count == 0


# ---- end to end against the emulator -------------------------------------------------------------


def test_the_sweep_sets_each_projects_webhook_with_its_secret_and_polling_is_refused(live, emu):
    project = a_project(emu)

    counts = registration.sync_webhooks(live, get_redis())

    assert counts["set"] >= 1 and counts["failed"] == 0
    [call] = emu.calls(token=project.bot_token, method="setWebhook")
    assert call["params"]["url"] == registration.webhook_url(live, project.id)
    assert call["params"]["secret_token"] == registration.secret_for(
        live.config["SECRET_KEY"], project.id, project.bot_token)
    assert "chat_member" in call["params"]["allowed_updates"]
    with pytest.raises(telegram.TelegramError, match="webhook is active") as refused:
        telegram.call(lambda: telegram.bot_for(project.bot_token).get_updates())
    assert refused.value.status == 409 and refused.value.description == CONFLICT
    # Nothing changed: the next sweep does not call Telegram again for it.
    registration.sync_webhooks(live, get_redis())
    assert len(emu.calls(token=project.bot_token, method="setWebhook")) == 1


def test_a_customer_message_reaches_the_handlers_through_the_webhook_and_is_answered(live, emu):
    project = a_project(emu)
    registration.sync_webhooks(live, get_redis())
    user_id = 500000 + unique_id()
    emu.add_user(user_id, "Ann")

    emu.send_message(project.bot_token, user_id, "NOSUCHCODE1")
    emu.wait_for(lambda e: not e.pending_updates(project.bot_token),
                 description="the webhook to take the update")
    run_jobs()

    [reply] = emu.sent_messages(token=project.bot_token, chat_id=user_id)
    assert reply["text"]  # the unknown-code refusal, as polling would answer it


def test_an_update_telegram_delivers_twice_is_answered_once(live, emu):
    project = a_project(emu)
    registration.sync_webhooks(live, get_redis())
    user_id = 500000 + unique_id()
    emu.add_user(user_id, "Ann")
    update = emu.send_message(project.bot_token, user_id, "NOSUCHCODE2")
    emu.wait_for(lambda e: not e.pending_updates(project.bot_token), description="delivered")

    emu.inject_update(project.bot_token, update)  # the same update_id once more
    emu.wait_for(lambda e: not e.pending_updates(project.bot_token), description="redelivered")
    assert updates_queue().count == 2
    run_jobs()

    assert len(emu.sent_messages(token=project.bot_token, chat_id=user_id)) == 1


def test_a_refused_delivery_stays_at_telegram_and_shows_as_its_last_error(live, emu):
    project = a_project(emu)
    registration.sync_webhooks(live, get_redis())
    telegram.set_webhook(project.bot_token, registration.webhook_url(live, project.id),
                         "a-stale-secret")
    emu.send_message(project.bot_token, 500000 + unique_id(), "hello")

    emu.wait_for(lambda e: e.stats().get("webhook_failures"), description="a failed delivery")
    info = telegram.get_webhook_info(project.bot_token)
    assert "403" in info["last_error_message"] and info["pending_update_count"] == 1
    assert updates_queue().count == 0


def test_a_removed_project_and_a_switch_to_polling_delete_the_webhooks(live, emu):
    removed, kept = a_project(emu), a_project(emu)
    registration.sync_webhooks(live, get_redis())
    set_deleted(removed.id)

    registration.sync_webhooks(live, get_redis())
    assert telegram.get_webhook_info(removed.bot_token)["url"] == ""
    assert telegram.get_webhook_info(kept.bot_token)["url"]

    live.config["BOT_MODE"] = "polling"
    registration.sync_webhooks(live, get_redis())
    assert telegram.get_webhook_info(kept.bot_token)["url"] == ""
    # (telebot reads a long-poll timeout of 0 as its default of 10 s: 1 s is the shortest)
    bot = telegram.bot_for(kept.bot_token)
    assert telegram.call(lambda: bot.get_updates(timeout=1, long_polling_timeout=1)) == []


def test_a_new_token_moves_the_webhook_and_drops_the_old_bots(live, emu):
    project = a_project(emu)
    registration.sync_webhooks(live, get_redis())
    old_token = project.bot_token
    new_token = f"{project.bot_user_id}:NEW-{unique_id()}"
    emu.add_bot(new_token, username=project.bot_username)
    set_token(project.id, new_token)

    registration.token_saved(live, project.id, new_token, old_token)

    assert telegram.get_webhook_info(old_token)["url"] == ""
    [call] = emu.calls(token=new_token, method="setWebhook")
    assert call["params"]["secret_token"] == registration.secret_for(
        live.config["SECRET_KEY"], project.id, new_token)


def test_the_project_page_shows_how_updates_arrive(live, emu, client, logged_in_owner):
    owner = db.session.get(factories.Owner, logged_in_owner.id)
    project = a_project(emu, owner)
    page = client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert f'hx-get="/projects/{project.id}/webhook"' in page

    page = client.get(f"/projects/{project.id}/webhook")
    assert "not set yet" in page.get_data(as_text=True)
    registration.sync_webhooks(live, get_redis())
    page = client.get(f"/projects/{project.id}/webhook")
    assert "delivers this bot's updates to the dashboard" in page.get_data(as_text=True)
    assert client.get(f"/projects/{project.id + 1000}/webhook").status_code == 404


def test_in_request_handling_answers_before_telegram_gets_its_200(live, emu):
    live.config["WEBHOOK_HANDLING"] = "inline"
    project = a_project(emu)
    registration.sync_webhooks(live, get_redis())
    user_id = 500000 + unique_id()
    emu.add_user(user_id, "Ann")

    emu.send_message(project.bot_token, user_id, "NOSUCHCODE3")
    emu.wait_for(lambda e: not e.pending_updates(project.bot_token), description="delivered")

    assert len(emu.sent_messages(token=project.bot_token, chat_id=user_id)) == 1
    assert updates_queue().count == 0
