"""The project page tells whether the bot works, and each resource's way in can be chosen."""

from datetime import timedelta

import pytest

from tests.dashboard_helpers import HTMX, data, text
from tests.factories import make_project, make_resource
from webapp.domain import bot_health
from webapp.models import Owner, Resource
from webapp.queues import get_redis

TOKEN = "7100200300:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_ID = 7100200300


@pytest.fixture
def bot(emulator):
    emulator.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    return emulator


@pytest.fixture
def project(app, logged_in_owner, bot):
    with data(app) as session:
        project = make_project(
            session.get(Owner, logged_in_owner.id),
            bot_token=TOKEN, bot_user_id=BOT_ID, bot_username="GoldClubBot",
        )
        make_resource(project, "Gold Club Channel", chat_id=-1001)
        make_resource(project, "Gold Club Chat", chat_id=-1002, can_restrict_members=False)
        ids = (project.id, [r.id for r in project.resources])
    return ids


def test_a_bot_that_polls_and_has_its_rights_is_reported_healthy(app, client, project, now):
    project_id, _ = project
    with app.app_context():
        bot_health.record_poll(get_redis(), project_id, now - timedelta(seconds=20), updates=3)
    with data(app) as session:
        for resource_id in project[1]:
            session.get(Resource, resource_id).can_restrict_members = True
    page = client.get(f"/projects/{project_id}/health", headers=HTMX)
    assert page.status_code == 200
    assert "receiving updates and has every right it needs" in text(page)


def test_a_webhook_a_silent_poller_and_missing_rights_are_each_explained(
    app, client, project, bot
):
    project_id, _ = project
    bot.set_webhook(TOKEN, "https://old-platform.example/hook")
    page = text(client.get(f"/projects/{project_id}/health", headers=HTMX))
    assert "A webhook is set on this bot (https://old-platform.example/hook)" in page
    assert "has not heard from Telegram" in page and "Check that the bot process is running" in page
    assert "In “Gold Club Chat” @GoldClubBot lacks the right Ban users" in page


def test_the_project_page_loads_the_health_card(client, project):
    project_id, _ = project
    page = client.get(f"/projects/{project_id}")
    assert f'hx-get="/projects/{project_id}/health"' in page.get_data(as_text=True)


def test_a_revoked_token_is_reported_on_the_health_card(app, client, project, bot):
    project_id, _ = project
    bot.fail_next("getWebhookInfo", 401, "Unauthorized")
    page = text(client.get(f"/projects/{project_id}/health", headers=HTMX))
    assert "no longer accepts this bot" in page


def test_join_by_request_and_declining_strangers_are_chosen_per_resource(app, client, project):
    project_id, (channel_id, chat_id) = project
    answer = client.post(
        f"/projects/{project_id}/resources/{channel_id}/join-mode",
        data={"join_by_request": "y", "decline_strangers": "y"}, headers=HTMX,
    )
    assert answer.status_code == 200 and "now works as chosen" in text(answer)
    with data(app) as session:
        channel, chat = session.get(Resource, channel_id), session.get(Resource, chat_id)
        assert (channel.join_by_request, channel.decline_strangers) == (True, True)
        assert (chat.join_by_request, chat.decline_strangers) == (False, False)


def test_a_join_mode_form_with_a_value_no_checkbox_sends_changes_nothing(app, client, project):
    project_id, (channel_id, _) = project
    answer = client.post(
        f"/projects/{project_id}/resources/{channel_id}/join-mode",
        data={"join_by_request": "<script>"}, headers=HTMX,
    )
    assert answer.status_code == 400 and "Nothing was changed" in text(answer)
    with data(app) as session:
        assert session.get(Resource, channel_id).join_by_request is False


def test_another_owners_resource_is_a_404(app, client, project, auth):
    from tests.factories import make_owner

    with data(app):
        other = make_project(make_owner("other@example.com"), bot_token="55:OTHER")
        resource_id = make_resource(other, "Theirs").id
        other_id = other.id
    answer = client.post(f"/projects/{other_id}/resources/{resource_id}/join-mode", data={})
    assert answer.status_code == 404
    assert client.get(f"/projects/{other_id}/health").status_code == 404


def test_a_token_with_a_webhook_is_saved_with_a_warning(app, client, logged_in_owner, bot):
    bot.set_webhook(TOKEN, "https://old-platform.example/hook")
    answer = client.post("/projects/new", data={"name": "Gold", "bot_token": TOKEN})
    assert answer.status_code == 303
    page = text(client.get(answer.headers["Location"]))
    assert "had a webhook set (https://old-platform.example/hook)" in page
