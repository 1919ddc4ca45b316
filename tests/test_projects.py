"""Projects: a bot token checked with getMe; resources checked with getChat / getChatMember."""

import pytest
from sqlalchemy import select

from tests.dashboard_helpers import HTMX, count, data, fetch, is_fragment, text
from tests.factories import make_project, make_resource
from webapp import telegram
from webapp.models import Owner, Project, Resource

TOKEN = "7100200300:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_ID = 7100200300
OWNER_ID = 900  # the owner's own Telegram account, who made the chats


@pytest.fixture
def bot(emulator):
    emulator.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    emulator.add_user(OWNER_ID, "Olga")
    return emulator


@pytest.fixture
def project_id(app, logged_in_owner, bot):
    with data(app) as session:
        project = make_project(
            session.get(Owner, logged_in_owner.id),
            bot_token=TOKEN,
            bot_user_id=BOT_ID,
            bot_username="GoldClubBot",
        )
        new_id = project.id
    return new_id


def _create(client, name="Gold Club", token=TOKEN):
    return client.post("/projects/new", data={"name": name, "bot_token": token})


def test_a_project_is_created_with_the_bot_telegram_knows_for_the_token(
    app, client, logged_in_owner, bot
):
    response = _create(client)
    assert response.status_code == 303
    with data(app) as session:
        project = session.scalars(select(Project)).one()
        assert (project.name, project.bot_username, project.bot_user_id) == (
            "Gold Club",
            "GoldClubBot",
            BOT_ID,
        )
        assert project.owner_id == logged_in_owner.id
        assert response.headers["Location"] == f"/projects/{project.id}"
    assert [c["method"] for c in bot.calls(token=TOKEN)] == ["getMe", "getWebhookInfo"]
    page = client.get(response.headers["Location"])
    assert "is connected to @GoldClubBot" in text(page)


def test_the_token_is_never_shown_back_in_full(app, client, logged_in_owner, bot):
    _create(client)
    secret = TOKEN.split(":")[1]
    with data(app) as session:
        project_id = session.scalars(select(Project.id)).one()
    for path in ("/", "/projects", f"/projects/{project_id}", f"/projects/{project_id}/edit"):
        body = text(client.get(path))
        assert secret not in body, path
        assert secret[:10] not in body, path
    assert "7100200300:…saw1" in text(client.get(f"/projects/{project_id}"))


def test_a_token_telegram_does_not_know_is_refused_and_nothing_saved(
    app, client, logged_in_owner, bot
):
    response = _create(client, token="7100200301:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9")
    assert response.status_code == 400
    assert "Telegram does not accept this token" in text(response)
    assert 'value="Gold Club"' in text(response)
    assert count(app, Project) == 0


def test_a_malformed_token_is_refused_without_asking_telegram(app, client, logged_in_owner, bot):
    response = _create(client, token="not a token")
    assert response.status_code == 400
    assert "does not look like a bot token" in text(response)
    assert bot.calls(method="getMe") == []
    assert count(app, Project) == 0


def test_an_unreachable_telegram_gives_a_clear_message_and_nothing_is_saved(
    app, client, logged_in_owner, monkeypatch
):
    monkeypatch.setattr(telegram, "BACKOFF_BASE", 0)
    response = _create(client)  # TELEGRAM_API_URL points at a closed port in tests
    assert response.status_code == 502
    assert "Telegram did not answer" in text(response)
    assert "Nothing was saved" in text(response)
    assert count(app, Project) == 0


def test_a_telegram_server_error_gives_a_clear_message_and_nothing_is_saved(
    app, client, logged_in_owner, bot, monkeypatch
):
    monkeypatch.setattr(telegram, "BACKOFF_BASE", 0)
    bot.fail_next("getMe", 500, "Internal Server Error", times=telegram.MAX_ATTEMPTS)
    response = _create(client)
    assert response.status_code == 502
    assert "Telegram did not answer" in text(response)
    assert count(app, Project) == 0


def test_a_bot_already_connected_is_refused(app, client, logged_in_owner, bot):
    _create(client)
    response = _create(client, name="Again")
    assert response.status_code == 400
    assert "already connected to a project" in text(response)
    assert count(app, Project) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Give the project a name."), ("x" * 121, "Use at most 120 characters.")],
)
def test_a_project_needs_a_sensible_name(app, client, logged_in_owner, bot, name, message):
    response = _create(client, name=name)
    assert response.status_code == 400
    assert message in text(response)
    assert count(app, Project) == 0


def test_an_empty_form_gets_a_message_for_each_field(app, client, logged_in_owner):
    response = client.post("/projects/new", data={})
    assert response.status_code == 400
    assert "Give the project a name." in text(response)
    assert "Paste the bot token from @BotFather." in text(response)


def test_project_names_are_escaped_everywhere(app, client, logged_in_owner, bot):
    evil = '<script>alert("x")</script>'
    _create(client, name=evil)
    with data(app) as session:
        project_id = session.scalars(select(Project.id)).one()
    for path in ("/", "/projects", f"/projects/{project_id}", "/plans", "/telegram"):
        body = text(client.get(path))
        assert "<script>alert" not in body, path
    assert "&lt;script&gt;alert" in text(client.get(f"/projects/{project_id}"))


def test_the_new_project_page_explains_where_the_token_comes_from(client, logged_in_owner):
    response = client.get("/projects/new")
    assert response.status_code == 200
    assert "@BotFather" in text(response)


def test_projects_list_and_empty_state(app, client, logged_in_owner):
    empty = client.get("/projects")
    assert "No projects yet" in text(empty)
    with data(app) as session:
        make_project(session.get(Owner, logged_in_owner.id), name="Trading Signals")
    listed = client.get("/projects")
    assert "Trading Signals" in text(listed)
    assert "No projects yet" not in text(listed)


def test_renaming_a_project(app, client, project_id):
    assert client.get(f"/projects/{project_id}/edit").status_code == 200
    response = client.post(f"/projects/{project_id}/edit", data={"name": "  Platinum  "})
    assert response.status_code == 303
    assert fetch(app, Project, project_id).name == "Platinum"
    refused = client.post(f"/projects/{project_id}/edit", data={"name": "   "})
    assert refused.status_code == 400
    assert "Give the project a name." in text(refused)
    assert fetch(app, Project, project_id).name == "Platinum"


# Resources ----------------------------------------------------------------------------------


def _channel(bot, chat_id=-1001500, title="Gold Club Channel", username="goldclub", **rights):
    bot.add_chat(chat_id, "channel", title, username=username)
    bot.set_chat_admin(chat_id, OWNER_ID, status="creator")
    if rights.get("admin", True):
        bot.set_chat_admin(
            chat_id,
            BOT_ID,
            can_invite_users=rights.get("invite", True),
            can_restrict_members=rights.get("restrict", True),
        )
    return chat_id


def _add(client, project_id, chat, headers=None):
    return client.post(
        f"/projects/{project_id}/resources", data={"chat": chat}, headers=headers or {}
    )


def _resources(app, project_id):
    with data(app) as session:
        rows = session.scalars(select(Resource).where(Resource.project_id == project_id))
        return [
            (
                r.chat_id,
                r.title,
                r.chat_type,
                r.bot_is_admin,
                r.can_invite_users,
                r.can_restrict_members,
            )
            for r in rows
        ]


@pytest.mark.parametrize("typed", ["@goldclub", "goldclub", "https://t.me/goldclub", "-1001500"])
def test_a_channel_the_bot_administers_is_added_by_username_link_or_id(
    app, client, project_id, bot, typed
):
    _channel(bot)
    response = _add(client, project_id, typed)
    assert response.status_code == 303
    assert _resources(app, project_id) == [
        (-1001500, "Gold Club Channel", "channel", True, True, True)
    ]
    page = text(client.get(f"/projects/{project_id}"))
    assert "Gold Club Channel" in page
    assert "invite &amp; remove" in page


def test_adding_over_htmx_answers_with_the_resources_fragment(app, client, project_id, bot):
    _channel(bot)
    response = _add(client, project_id, "@goldclub", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert "HX-Request" in response.headers["Vary"]
    assert 'id="resources"' in text(response)
    assert "“Gold Club Channel” added." in text(response)


def test_a_chat_where_the_bot_lacks_the_ban_right_is_kept_but_flagged(app, client, project_id, bot):
    _channel(bot, restrict=False)
    response = _add(client, project_id, "@goldclub")
    assert response.status_code == 303
    assert _resources(app, project_id)[0][3:] == (True, True, False)
    page = text(client.get(f"/projects/{project_id}"))
    assert "cannot remove" in page
    assert "still needs the rights" in page


def test_a_chat_where_the_bot_is_no_admin_is_refused_and_nothing_saved(
    app, client, project_id, bot
):
    _channel(bot, admin=False)
    bot.add_member(-1001500, BOT_ID)
    response = _add(client, project_id, "@goldclub")
    assert response.status_code == 400
    assert "The bot is not an administrator there" in text(response)
    assert 'value="@goldclub"' in text(response)
    assert _resources(app, project_id) == []


def test_a_public_chat_the_bot_is_not_in_is_refused(app, client, project_id, bot):
    _channel(bot, admin=False)
    response = _add(client, project_id, "@goldclub")
    assert response.status_code == 400
    assert "is not a member there" in text(response)
    assert _resources(app, project_id) == []


def test_an_unknown_chat_is_refused(app, client, project_id, bot):
    response = _add(client, project_id, "@nosuchchat")
    assert response.status_code == 400
    assert "cannot see this chat" in text(response)
    assert _resources(app, project_id) == []


def test_a_person_is_not_a_channel(app, client, project_id, bot):
    response = _add(client, project_id, str(OWNER_ID))
    assert response.status_code == 400
    assert "That is not a channel or group" in text(response)
    assert _resources(app, project_id) == []


@pytest.mark.parametrize("typed", ["", "@no", "hello world", "https://example.com/x"])
def test_what_cannot_be_a_chat_is_refused_without_asking_telegram(
    app, client, project_id, bot, typed
):
    response = _add(client, project_id, typed, headers=HTMX)
    assert response.status_code == 400
    assert is_fragment(response)
    assert 'class="field-errors"' in text(response)
    assert bot.calls(method="getChat") == []
    assert _resources(app, project_id) == []


def test_adding_a_chat_again_updates_it(app, client, project_id, bot):
    _channel(bot, restrict=False)
    _add(client, project_id, "@goldclub")
    bot.set_chat_admin(-1001500, BOT_ID, can_invite_users=True, can_restrict_members=True)
    response = _add(client, project_id, "@goldclub")
    assert response.status_code == 303
    assert _resources(app, project_id) == [
        (-1001500, "Gold Club Channel", "channel", True, True, True)
    ]


def test_re_checking_a_resource_records_the_rights_telegram_reports_now(
    app, client, project_id, bot
):
    _channel(bot, restrict=False)
    _add(client, project_id, "@goldclub")
    with data(app) as session:
        resource_id = session.scalars(select(Resource.id)).one()
    bot.set_chat_admin(-1001500, BOT_ID, can_invite_users=True, can_restrict_members=True)
    url = f"/projects/{project_id}/resources/{resource_id}/check"
    response = client.post(url, headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert "is ready" in text(response)
    assert _resources(app, project_id)[0][3:] == (True, True, True)

    bot.bot_removed(TOKEN, -1001500, OWNER_ID)
    response = client.post(url)
    assert response.status_code == 303
    assert _resources(app, project_id)[0][3:] == (False, False, False)
    assert "not an admin" in text(client.get(f"/projects/{project_id}"))


def test_resources_the_bot_reported_are_listed_with_their_rights(app, client, project_id):
    with data(app) as session:
        project = session.get(Project, project_id)
        make_resource(project, "VIP Group", chat_type="supergroup", can_invite_users=False)
        make_resource(project, "Old Channel", bot_is_admin=False)
    page = text(client.get(f"/projects/{project_id}"))
    assert "VIP Group" in page and "Supergroup" in page
    assert "cannot invite" in page
    assert "not an admin" in page


def test_a_project_without_resources_says_how_to_add_one(client, project_id):
    page = text(client.get(f"/projects/{project_id}"))
    assert "No channels or groups yet" in page
    assert "@GoldClubBot as an administrator" in page


def test_resource_titles_are_escaped(app, client, project_id):
    with data(app) as session:
        make_resource(session.get(Project, project_id), "<img src=x onerror=alert(1)>")
    page = text(client.get(f"/projects/{project_id}"))
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_two_requests_saving_the_same_bot_at_once_end_with_one_project_and_a_message(
    app, client, logged_in_owner, bot, monkeypatch
):
    from webapp import projects as project_views
    from webapp.domain import projects as project_domain

    with data(app):
        make_project(bot_token=TOKEN, bot_user_id=BOT_ID, bot_username="GoldClubBot")

    # As if the other request committed between this one's duplicate check and its insert.
    def check_without_seeing_the_other(session, name, bot_token):
        return name.strip(), bot_token.strip()

    monkeypatch.setattr(project_domain, "check_new_project", check_without_seeing_the_other)
    monkeypatch.setattr(project_views, "check_new_project", check_without_seeing_the_other)
    response = _create(client)
    assert response.status_code == 400
    assert "This bot is already connected to a project." in text(response)
    assert count(app, Project) == 1
