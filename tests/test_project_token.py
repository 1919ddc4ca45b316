"""Replacing a project's bot token (revoked or regenerated in @BotFather), checked with getMe."""

import pytest

from tests.dashboard_helpers import HTMX, data, fetch, is_fragment, text
from tests.factories import make_owner, make_project
from webapp import telegram
from webapp.models import Owner, Project

OLD = "7100200300:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
NEW = "7100200300:BBKrnewTokenFromBotFatherXYZ0123nw42"
OTHER = "7100200999:AAHotherBotTokenOtherBotTokenOt9999"
BOT_ID = 7100200300


@pytest.fixture
def bot(emulator):
    # Telegram keeps the bot (same id) and hands out a new secret: both reach the same bot here.
    emulator.add_bot(OLD, "GoldClubBot", "Gold Club")
    emulator.add_bot(NEW, "GoldClubBot", "Gold Club")
    emulator.add_bot(OTHER, "OtherBot", "Other")
    return emulator


@pytest.fixture
def project_id(app, logged_in_owner, bot):
    with data(app) as session:
        project = make_project(
            session.get(Owner, logged_in_owner.id),
            bot_token=OLD,
            bot_user_id=BOT_ID,
            bot_username="GoldClubBot",
        )
        new_id = project.id
    return new_id


def _replace(client, project_id, token=NEW, headers=None):
    return client.post(
        f"/projects/{project_id}/token", data={"bot_token": token}, headers=headers or {}
    )


def _token(app, project_id):
    return fetch(app, Project, project_id).bot_token


def test_the_project_page_offers_to_replace_the_token(client, project_id):
    page = text(client.get(f"/projects/{project_id}"))
    assert "Replace the bot token" in page
    assert "New bot token" in page


def test_a_new_token_of_the_same_bot_replaces_the_old_one(app, client, project_id, bot):
    response = _replace(client, project_id, "  " + NEW + " ")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/projects/{project_id}"
    assert _token(app, project_id) == NEW
    assert [c["method"] for c in bot.calls(token=NEW)] == ["getMe", "getWebhookInfo"]
    page = text(client.get(response.headers["Location"]))
    assert "@GoldClubBot now uses the new token" in page
    assert "7100200300:…nw42" in page
    assert NEW.split(":")[1] not in page
    assert NEW.split(":")[1][:10] not in page


def test_htmx_gets_the_bot_card_back_with_the_new_masked_token(app, client, project_id, bot):
    response = _replace(client, project_id, headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    body = text(response)
    assert 'id="bot"' in body
    assert "now uses the new token" in body
    assert "7100200300:…nw42" in body
    assert NEW.split(":")[1][:10] not in body
    assert _token(app, project_id) == NEW


def test_a_token_of_another_bot_is_refused_naming_both_bots(app, client, project_id, bot):
    response = _replace(client, project_id, OTHER)
    assert response.status_code == 400
    body = text(response)
    assert "This token belongs to @OtherBot, not @GoldClubBot" in body
    assert 'id="bot_token-errors"' in body
    assert OTHER.split(":")[1] not in body
    assert _token(app, project_id) == OLD
    assert fetch(app, Project, project_id).bot_username == "GoldClubBot"


def test_a_token_telegram_does_not_know_is_refused_and_nothing_saved(
    app, client, project_id, bot
):
    wrong = "7100200300:AAHwrongwrongwrongwrongwrongwrong0000"
    response = _replace(client, project_id, wrong)
    assert response.status_code == 400
    assert "Telegram does not accept this token" in text(response)
    assert wrong.split(":")[1] not in text(response)
    assert _token(app, project_id) == OLD


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "Paste the new bot token from @BotFather."),
        ("not a token", "This does not look like a bot token."),
        (OLD, "This is the token the project already uses."),
    ],
    ids=["empty", "malformed", "unchanged"],
)
def test_a_token_that_cannot_be_right_is_refused_without_asking_telegram(
    app, client, project_id, bot, token, message
):
    response = _replace(client, project_id, token)
    assert response.status_code == 400
    assert message in text(response)
    assert bot.calls(method="getMe") == []
    assert _token(app, project_id) == OLD


def test_a_token_used_by_another_project_is_refused(app, client, project_id, bot):
    with data(app):
        make_project(make_owner("eve@example.com"), bot_token=NEW, bot_user_id=BOT_ID + 1)
    response = _replace(client, project_id, NEW)
    assert response.status_code == 400
    assert "This token is already used by another project." in text(response)
    assert bot.calls(method="getMe") == []
    assert _token(app, project_id) == OLD


def test_an_error_comes_back_as_a_fragment_to_htmx(app, client, project_id, bot):
    response = _replace(client, project_id, OTHER, headers=HTMX)
    assert response.status_code == 400
    assert is_fragment(response)
    assert "This token belongs to @OtherBot" in text(response)
    assert _token(app, project_id) == OLD


def test_a_telegram_server_error_gives_a_clear_message_and_nothing_is_saved(
    app, client, project_id, bot, monkeypatch
):
    monkeypatch.setattr(telegram, "BACKOFF_BASE", 0)
    bot.fail_next("getMe", 500, "Internal Server Error", times=telegram.MAX_ATTEMPTS)
    response = _replace(client, project_id)
    assert response.status_code == 502
    assert "Telegram did not answer while we checked the new token" in text(response)
    assert _token(app, project_id) == OLD


def test_the_bot_process_switches_to_the_new_token(app, client, project_id, bot, monkeypatch):
    from bot import fleet as bot_fleet
    from bot import polling

    monkeypatch.setattr(polling, "POLL_TIMEOUT", 1)
    now = [0.0]  # the fleet's clock: a reload of the projects is due when the test says so
    fleet = bot_fleet.Fleet(app, clock=lambda: now[0])
    try:
        fleet.tick()
        bot.wait_for(lambda emu: emu.calls(token=OLD, method="getUpdates"), timeout=10)
        assert _replace(client, project_id).status_code == 303
        old_poller = fleet.pollers[project_id]

        now[0] += bot_fleet.RELOAD_SECONDS
        fleet.tick()
        assert old_poller.stopping.is_set()
        assert project_id not in fleet.pollers  # the same bot: not before the old one let go
        for stopper in list(fleet.stopping.values()):
            stopper.join(timeout=10)

        fleet.tick()
        assert fleet.pollers[project_id].token == NEW
        bot.wait_for(lambda emu: emu.calls(token=NEW, method="getUpdates"), timeout=10)
        old_poller.thread.join(timeout=10)  # its long poll in flight ends, handling nothing
        assert not old_poller.thread.is_alive()
    finally:
        fleet.shutdown()


def test_the_new_token_is_checked_outside_any_transaction(
    app, client, project_id, bot, monkeypatch
):
    from webapp.extensions import db

    seen = []
    real_get_me = telegram.get_me

    def get_me(token):
        seen.append(db.session().in_transaction())
        return real_get_me(token)

    monkeypatch.setattr(telegram, "get_me", get_me)
    assert _replace(client, project_id).status_code == 303
    assert seen == [False]
