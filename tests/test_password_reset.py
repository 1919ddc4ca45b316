"""Password recovery: the owner's own bot sends a one-time, 15-minute link to the linked Telegram
account; owners without Telegram ask the operator (flask owner reset-password)."""

import re
from datetime import timedelta

import pytest

from tests.conftest import NOW
from tests.dashboard_helpers import data, fetch, text
from tests.factories import PASSWORD, make_owner, make_project
from webapp.domain import password_reset
from webapp.models import Owner

TOKEN = "7300001:AAreset-test-token-0123456789abcdefg"
OWNER_TG = 5570001
NEW = "a brand new long password"


@pytest.fixture
def linked(app, emulator):
    emulator.add_bot(TOKEN, "ResetBot", "Reset Bot")
    emulator.add_user(OWNER_TG, "Olga")
    emulator.start_bot(OWNER_TG, TOKEN)
    with data(app):
        owner = make_owner("olga@example.com", telegram_user_id=OWNER_TG)
        make_project(owner, bot_token=TOKEN, bot_user_id=7300001, bot_username="ResetBot")
        return owner.id


def _ask(client, email="olga@example.com"):
    return client.post("/password/forgot", data={"email": email})


def _link_path(emulator) -> str:
    message = emulator.wait_for_message(TOKEN, OWNER_TG, contains="reset your Admit password")
    return re.search(r"http://admit\.test(/password/reset/\S+)", message["text"]).group(1)


def test_the_owners_bot_sends_a_one_time_link_that_sets_a_new_password(
    app, auth, client, emulator, linked
):
    other = app.test_client()
    other.post("/login", data={"email": "olga@example.com", "password": PASSWORD})
    response = _ask(client)
    assert response.status_code == 303
    assert "its bot has just sent you a link" in text(client.get("/login"))
    path = _link_path(emulator)
    assert "New password" in text(client.get(path))
    done = client.post(path, data={"new_password": NEW, "repeat_password": NEW})
    assert done.status_code == 303
    assert auth.login("olga@example.com", PASSWORD).status_code == 400
    assert auth.login("olga@example.com", NEW).status_code == 302
    # Every earlier session ended, and the link is used up.
    assert other.get("/").status_code == 302
    assert client.get(path).status_code == 404
    assert fetch(app, Owner, linked).password_reset_hash is None


def test_a_reset_link_stops_working_after_fifteen_minutes(
    app, client, emulator, linked, monkeypatch
):
    from webapp import auth as auth_views

    _ask(client)
    path = _link_path(emulator)
    before = fetch(app, Owner, linked).password_hash
    late = NOW + password_reset.RESET_LIFETIME + timedelta(seconds=1)
    monkeypatch.setattr(auth_views, "utcnow", lambda: late)
    response = client.post(path, data={"new_password": NEW, "repeat_password": NEW})
    assert response.status_code == 404
    assert "older than 15 minutes" in text(response)
    assert fetch(app, Owner, linked).password_hash == before


def test_a_made_up_link_is_a_404_with_a_way_forward(client):
    response = client.get("/password/reset/" + "x" * 43)
    assert response.status_code == 404
    assert "Ask for a new one" in text(response)


def test_a_bad_new_password_keeps_the_link_and_says_why(app, client, emulator, linked):
    _ask(client)
    path = _link_path(emulator)
    response = client.post(path, data={"new_password": "short", "repeat_password": "short"})
    assert response.status_code == 400
    assert "Use at least 10 characters." in text(response)
    assert client.get(path).status_code == 200


def test_the_answer_is_the_same_for_unknown_and_unlinked_addresses(app, auth, client, emulator):
    auth.create_owner("ann@example.com")  # no Telegram linked
    for email in ("ann@example.com", "nobody@example.com"):
        response = _ask(client, email)
        assert response.status_code == 303
        assert "its bot has just sent you a link" in text(client.get("/login"))
    assert emulator.calls(method="sendMessage") == []


def test_reset_requests_are_throttled_per_address(client, linked):
    from webapp.domain import ratelimit

    for _ in range(ratelimit.MAX_SIGNUPS_PER_IP):
        assert _ask(client, "nobody@example.com").status_code == 303
    assert _ask(client).status_code == 429


def test_the_operator_resets_a_password_for_an_owner_without_telegram(app, auth, runner):
    owner = auth.create_owner("ann@example.com")
    other = app.test_client()
    other.post("/login", data={"email": owner.email, "password": PASSWORD})
    result = runner.invoke(
        args=["owner", "reset-password", "ann@example.com", "--password-stdin"], input=NEW + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "every session is logged out" in result.output
    assert other.get("/").status_code == 302
    assert auth.login("ann@example.com", NEW).status_code == 302
    missing = runner.invoke(
        args=["owner", "reset-password", "who@example.com", "--password-stdin"], input=NEW + "\n"
    )
    assert missing.exit_code != 0 and "No owner has the e-mail" in missing.output
    short = runner.invoke(
        args=["owner", "reset-password", "ann@example.com", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 10" in short.output
