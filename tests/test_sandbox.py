"""The sandbox Telegram: sandbox projects, their routing, and the web client."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import NOW
from webapp import clock, telegram
from webapp.config import Config
from webapp.domain.sandbox import customer_persona, owner_persona
from webapp.extensions import db
from webapp.models import Project, Resource
from webapp.queues import get_redis


@pytest.fixture
def sandbox(app_config, app):
    from webapp.sandbox.server import SandboxTelegram

    server = SandboxTelegram(require_start=True, clock_start=NOW.timestamp()).start()
    app_config["SANDBOX_API_URL"] = app.config["SANDBOX_API_URL"] = server.url
    telegram.configure(app.config["TELEGRAM_API_URL"], server.url)
    yield server
    server.stop()
    telegram.configure(app_config["TELEGRAM_API_URL"], "http://127.0.0.1:9")


@pytest.fixture
def sandbox_project(app, sandbox, client, logged_in_owner):
    response = client.post("/sandbox/projects", data={"name": "Gold Club"})
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        project = db.session.scalars(select(Project)).one()
        return type("P", (), {"id": project.id, "token": project.bot_token,
                              "bot_id": project.bot_user_id, "username": project.bot_username,
                              "owner_id": project.owner_id})


def test_try_with_a_sandbox_bot_makes_a_project_whose_bot_administers_a_channel_and_a_group(
    app, sandbox, sandbox_project, client
):
    with app.app_context():
        project = db.session.get(Project, sandbox_project.id)
        assert project.sandbox is True
        resources = db.session.scalars(select(Resource).order_by(Resource.chat_type)).all()
        assert [(r.chat_type, r.title, r.is_usable) for r in resources] == [
            ("channel", "Gold Club Channel", True),
            ("supergroup", "Gold Club Chat", True),
        ]
    # The dashboard learnt it over the Bot API, from the sandbox, like for a real bot.
    assert {c["method"] for c in sandbox.calls(sandbox_project.token)} >= {
        "getMe", "getChat", "getChatMember"
    }
    page = client.get(f"/projects/{sandbox_project.id}").get_data(as_text=True)
    assert "Sandbox" in page and "Open the sandbox Telegram" in page


def test_sandbox_bots_talk_to_the_sandbox_and_real_bots_to_telegram(app, sandbox, sandbox_project):
    assert telegram.api_url_for(sandbox_project.token) == sandbox.url
    assert telegram.api_url_for("123:REAL") == app.config["TELEGRAM_API_URL"]
    sandbox.send_message(sandbox_project.token, owner_persona(sandbox_project.owner_id).user_id,
                         "/start")
    telegram.send_message(sandbox_project.token, owner_persona(sandbox_project.owner_id).user_id,
                          "hello <b>owner</b>")
    assert sandbox.sent_messages(sandbox_project.token)[-1]["text"] == "hello owner"


def test_a_process_that_loads_a_sandbox_project_routes_its_token_to_the_sandbox(
    app, sandbox, sandbox_project
):
    telegram._sandbox_tokens.discard(sandbox_project.token)  # a fresh worker process
    assert telegram.api_url_for(sandbox_project.token) != sandbox.url
    with app.app_context():
        db.session.get(Project, sandbox_project.id)
    assert telegram.api_url_for(sandbox_project.token) == sandbox.url


def test_conversation_renders_the_bots_html_buttons_and_documents(
    app, sandbox, sandbox_project, client
):
    owner = owner_persona(sandbox_project.owner_id)
    sandbox.send_message(sandbox_project.token, owner.user_id, "/start")
    telebot_markup = {"inline_keyboard": [[{"text": "Plan A", "callback_data": "plan:1"}],
                                          [{"text": "Site", "url": "https://example.com/"}]]}
    from telebot.types import InlineKeyboardMarkup

    telegram.send_message(sandbox_project.token, owner.user_id,
                          "Pick <b>a plan</b> &lt;now&gt;",
                          reply_markup=InlineKeyboardMarkup.de_json(telebot_markup))
    telegram.send_document(sandbox_project.token, owner.user_id, b"a,b\n", "codes.csv")
    html = client.get(f"/sandbox?bot={sandbox_project.id}").get_data(as_text=True)
    assert "Pick <b>a plan</b> &lt;now&gt;" in html
    assert 'name="data" value="plan:1"' in html
    assert 'href="https://example.com/"' in html
    assert "codes.csv" in html
    message_id = sandbox.sent_messages(sandbox_project.token)[0]["message_id"]
    response = client.post(f"/sandbox/press/{sandbox_project.id}",
                           data={"message_id": message_id, "data": "plan:1"})
    assert response.status_code == 303
    update = sandbox.pending_updates(sandbox_project.token)[-1]
    assert update["callback_query"]["data"] == "plan:1"
    file_id = sandbox.sent_messages(sandbox_project.token)[-1]["document"]["file_id"]
    download = client.get(f"/sandbox/file/{sandbox_project.id}/{file_id}")
    assert download.data == b"a,b\n"
    assert "codes.csv" in download.headers["Content-Disposition"]


def test_a_customer_writes_to_the_bot_and_taps_an_invite_link_to_join_the_channel(
    app, sandbox, sandbox_project, client
):
    response = client.post("/sandbox/persona", data={"persona": "new"})
    assert response.status_code == 303
    alice = customer_persona(sandbox_project.owner_id, 1)
    client.post(f"/sandbox/send/{sandbox_project.id}", data={"text": "/start GOLD-1234"})
    update = sandbox.pending_updates(sandbox_project.token)[-1]
    assert update["message"]["from"]["id"] == alice.user_id
    assert update["message"]["text"] == "/start GOLD-1234"
    with app.app_context():
        channel = db.session.scalars(select(Resource).where(Resource.chat_type == "channel")).one()
        chat_id = channel.chat_id
    link = telegram.create_invite_link(sandbox_project.token, chat_id, name="alice",
                                       member_limit=1)
    response = client.post("/sandbox/open", data={"link": link, "bot": sandbox_project.id},
                           follow_redirects=True)
    assert "You joined Gold Club Channel." in response.get_data(as_text=True)
    assert sandbox.is_member(chat_id, alice.user_id)


def test_an_activation_link_opens_the_bot_chat_with_start(app, sandbox, sandbox_project, client):
    link = f"https://t.me/{sandbox_project.username}?start=GOLD-1234"
    response = client.post("/sandbox/open", data={"link": link})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="/start GOLD-1234"' in page and "START" in page


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("/sandbox/persona", {"persona": "12"}, "Pick one of your sandbox people."),
        ("/sandbox/open", {"link": "https://evil.example/x"}, "Paste a t.me link"),
        ("/sandbox/open", {"link": "https://t.me/+AAAAAAAAAAAA"}, "This invite link is not valid."),
        ("/sandbox/open", {"link": "https://t.me/SomeoneElsesBot?start=X"}, "not one of your"),
        ("/sandbox/clock", {"step": "century"}, "Pick how far to move the clock"),
    ],
)
def test_bad_sandbox_input_gets_a_clear_message_and_changes_nothing(
    app, sandbox, sandbox_project, client, url, data, message
):
    response = client.post(url, data=data, follow_redirects=True)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert not sandbox.chats_of(customer_persona(sandbox_project.owner_id, 1).user_id)


def test_pressing_a_button_that_is_not_there_is_refused(app, sandbox, sandbox_project, client):
    response = client.post(f"/sandbox/press/{sandbox_project.id}",
                           data={"message_id": 99, "data": "plan:1"}, follow_redirects=True)
    assert "That button is not on that message any more." in response.get_data(as_text=True)
    assert sandbox.pending_updates(sandbox_project.token) == []


def test_another_owners_sandbox_bot_is_a_404(app, sandbox, sandbox_project, client, auth):
    auth.logout()
    auth.create_owner("other@example.com")
    auth.login("other@example.com")
    assert client.get(f"/sandbox?bot={sandbox_project.id}").status_code == 404
    response = client.post(f"/sandbox/send/{sandbox_project.id}", data={"text": "hi"})
    assert response.status_code == 404


def test_the_clock_control_moves_the_products_and_the_sandboxs_time(
    app, sandbox, sandbox_project, client
):
    with app.app_context():
        before = clock.now()
    response = client.post("/sandbox/clock", data={"step": "day"})
    assert response.status_code == 303
    with app.app_context():
        moved = clock.now()
        assert moved - before >= timedelta(days=1)
        assert moved - before < timedelta(days=1, minutes=1)
        assert get_redis().get(clock.FAKE_NOW_KEY)
    assert abs(sandbox.now() - moved.timestamp()) < 60


def test_moving_the_clock_a_week_and_back_keeps_the_owner_logged_in(
    app, sandbox, sandbox_project, client
):
    # Sessions end after SESSION_IDLE_MINUTES of the product's clock: skipping a week in a demo
    # must not end the log-in the demo is watched from.
    for _ in range(3):
        assert client.post("/sandbox/clock", data={"step": "week"}).status_code == 303
    assert client.get("/sandbox").status_code == 200
    assert client.post("/sandbox/clock", data={"step": "real"}).status_code == 303
    page = client.get("/sandbox")
    assert page.status_code == 200 and "/login" not in page.headers.get("Location", "")


def test_the_clock_goes_back_to_the_real_time(app, sandbox, sandbox_project, client):
    client.post("/sandbox/clock", data={"step": "week"})
    response = client.post("/sandbox/clock", data={"step": "real"}, follow_redirects=True)
    assert "The clock is back to the real time." in response.get_data(as_text=True)
    with app.app_context():
        assert get_redis().get(clock.FAKE_NOW_KEY) is None
    assert abs(sandbox.now() - clock.wall_now().timestamp()) < 60


def test_the_clock_control_is_not_there_in_production(
    app, sandbox, sandbox_project, client, auth
):
    app.config["ADMIT_ENV"] = "production"
    # Production ignores the tests' clock, so the log-in made at NOW is stale: log in again.
    assert auth.login("owner@example.com").status_code == 302
    with app.app_context():
        before = clock.now()
    moved = client.post("/sandbox/clock", data={"step": "day"})
    assert moved.status_code == 404, moved.headers.get("Location")
    assert "+1 day" not in client.get("/sandbox").get_data(as_text=True)
    with app.app_context():
        assert clock.now() - before < timedelta(minutes=1)


def test_a_stopped_sandbox_gets_a_clear_page_and_makes_no_project(app, client, logged_in_owner):
    app.config["SANDBOX_ENABLED"] = True
    response = client.get("/sandbox")
    assert response.status_code == 503
    assert "The sandbox Telegram is not running" in response.get_data(as_text=True)
    response = client.post("/sandbox/projects", data={"name": "X"}, follow_redirects=True)
    assert "The sandbox Telegram is not running" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Project)).all() == []


def test_sandbox_is_on_in_development_and_off_in_production_unless_turned_on():
    assert Config({}).SANDBOX_ENABLED is True
    production = {"ADMIT_ENV": "production", "SECRET_KEY": "s3cr3t-" + "x9y8z7w6" * 5}
    assert Config(production).SANDBOX_ENABLED is False
    on = Config({**production, "ADMIT_SANDBOX": "1"})
    assert on.SANDBOX_ENABLED is True
    assert Config({"ADMIT_SANDBOX": "0"}).SANDBOX_ENABLED is False


def test_sandbox_turned_on_in_production_is_marked_on_every_page(app_config, sandbox, auth):
    from webapp import create_app

    app_config.update(ADMIT_ENV="production", SANDBOX_ENABLED=True)
    app = create_app(app_config)
    client = app.test_client()
    with app.app_context():
        from tests.factories import PASSWORD, make_owner

        make_owner("prod@example.com")
        db.session.commit()
    client.post("/login", data={"email": "prod@example.com", "password": PASSWORD})
    page = client.get("/").get_data(as_text=True)
    assert "has the <strong>sandbox Telegram</strong> turned on" in page
    with app.app_context():
        db.session.remove()


def test_a_restarted_sandbox_sets_up_its_bots_and_chats_again_from_the_database(
    app, sandbox, sandbox_project
):
    from webapp.sandbox.__main__ import restore
    from webapp.sandbox.server import SandboxTelegram

    fresh = SandboxTelegram()
    with app.app_context():
        assert restore(fresh) == 1
        channel = db.session.scalars(select(Resource).where(Resource.chat_type == "channel")).one()
        assert fresh.member_status(channel.chat_id, sandbox_project.bot_id) == "administrator"
    assert fresh.has_bot(sandbox_project.token)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sandbox?bot={p}"),
        ("GET", "/sandbox/conversation/{p}"),
        ("POST", "/sandbox/send/{p}"),
        ("POST", "/sandbox/press/{p}"),
        ("GET", "/sandbox/file/{p}/BQACAgIAAx"),
    ],
)
def test_every_sandbox_route_with_another_owners_bot_is_a_404_and_sends_nothing(
    app, sandbox, sandbox_project, client, auth, method, path
):
    auth.logout()
    auth.create_owner("other@example.com")
    auth.login("other@example.com")
    url = path.format(p=sandbox_project.id)
    response = client.get(url) if method == "GET" else client.post(url, data={"text": "hi"})
    assert response.status_code == 404
    assert sandbox.pending_updates(sandbox_project.token) == []


def test_a_sandbox_token_never_reaches_real_telegram_even_without_a_sandbox_configured():
    telegram.route_to_sandbox("999:SANDBOX-ONLY")
    saved = telegram._sandbox_url
    try:
        telegram._sandbox_url = ""
        assert "api.telegram.org" not in telegram.api_url_for("999:SANDBOX-ONLY")
    finally:
        telegram._sandbox_url = saved
        telegram._sandbox_tokens.discard("999:SANDBOX-ONLY")


def test_messages_render_their_entities_and_escape_everything_else():
    from webapp.sandbox.rendering import message_html

    html = message_html(
        "Hi <x> bold 😀 link",
        [
            {"type": "bold", "offset": 7, "length": 4},
            {"type": "text_link", "offset": 15, "length": 4, "url": 'https://t.me/+a"><script>'},
        ],
    )
    assert html == (
        'Hi &lt;x&gt; <b>bold</b> 😀 <a href="https://t.me/+a&#34;&gt;&lt;script&gt;" '
        'rel="noopener noreferrer">link</a>'
    )
    unsafe = [{"type": "text_link", "offset": 0, "length": 3, "url": "javascript:alert(1)"}]
    assert message_html("bad", unsafe) == "bad"
    overlapping = [{"type": "bold", "offset": 0, "length": 4},
                   {"type": "italic", "offset": 2, "length": 4}]
    assert message_html("abcdef", overlapping) == "<b>ab<i>cd</i></b><i>ef</i>"


# ``python -m webapp.sandbox`` whose server never finishes stopping: the bounded stop must end the
# process anyway (``make run`` promises nothing outlives it). The hang itself was seen twice and
# its cause is not known, so the stop is made to hang here on purpose.
_HANGING_STOP = """
import sys, threading
import webapp.sandbox.__main__ as sandbox_main
from webapp.sandbox.server import SandboxTelegram
sandbox_main.STOP_SECONDS = 0.5
SandboxTelegram.stop = lambda self: threading.Event().wait()
sys.exit(sandbox_main.main())
"""


def _start_sandbox_whose_stop_hangs(migrated, redis_url):
    import subprocess
    import sys

    from tests.bot_process import bot_env
    from tests.test_launcher import free_port

    env = bot_env(migrated, redis_url, "http://127.0.0.1:9")
    env.update(ADMIT_SANDBOX="1", SANDBOX_API_URL=f"http://127.0.0.1:{free_port()}")
    process = subprocess.Popen(
        [sys.executable, "-c", _HANGING_STOP], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    first = process.stdout.readline()
    assert first.startswith("Sandbox Telegram on"), first + process.stdout.read()
    return process


def test_a_sandbox_whose_stop_hangs_exits_anyway_and_shows_what_held_it(migrated, redis_url):
    import signal

    process = _start_sandbox_whose_stop_hangs(migrated, redis_url)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "did not stop in time; exiting anyway" in output
    assert "Thread 0x" in output and "<lambda>" in output  # the stacks name the stuck stop


def test_a_sandbox_whose_launcher_is_gone_still_exits_when_its_stop_hangs(migrated, redis_url):
    import signal

    process = _start_sandbox_whose_stop_hangs(migrated, redis_url)
    process.stdout.close()  # the reader is gone: the stop's report meets a broken pipe
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
