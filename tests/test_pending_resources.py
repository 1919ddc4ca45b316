"""A chat joins a project by itself only when the linked owner made the bot an administrator
there; anyone else's chat waits, unused and untitled in Telegram, until the owner accepts it."""

import pytest
from sqlalchemy import select

from tests import factories
from tests.dashboard_helpers import HTMX, count, data, fetch, text
from webapp.domain import resources
from webapp.domain.projects import project_resources, record_resource
from webapp.models import Owner, Plan, Resource

OWNER_TG, STRANGER_TG = 4242, 6666


def _promoted(by_user_id, chat_id=-100777, title="Gold Club Chat (official)"):
    return resources.BotStatusChange(
        chat_id=chat_id,
        chat_type="supergroup",
        title=title,
        username=None,
        new_status="administrator",
        can_invite_users=True,
        can_restrict_members=True,
        by_user_id=by_user_id,
    )


@pytest.fixture
def project(session):
    return factories.make_project(factories.make_owner(telegram_user_id=OWNER_TG))


def test_a_chat_where_a_stranger_promoted_the_bot_waits_and_is_not_offered(session, project, now):
    change = resources.apply_bot_status(session, project.id, _promoted(STRANGER_TG), now)
    assert change.kind == "pending"
    resource = change.resource
    assert resource.is_pending and not resource.is_usable
    assert resource.pending_by_user_id == STRANGER_TG
    assert project_resources(session, project.id) == []
    assert project_resources(session, project.id, include_pending=True) == [resource]
    # The stranger promoting the bot again changes nothing about that.
    again = resources.apply_bot_status(session, project.id, _promoted(STRANGER_TG), now)
    assert again.kind == "pending" and again.resource.is_pending


def test_a_chat_where_the_owner_promoted_the_bot_is_added_at_once(session, project, now):
    change = resources.apply_bot_status(session, project.id, _promoted(OWNER_TG), now)
    assert change.kind == "added" and change.resource.is_usable


def test_the_owner_promoting_the_bot_in_a_pending_chat_adds_it(session, project, now):
    resources.apply_bot_status(session, project.id, _promoted(STRANGER_TG), now)
    change = resources.apply_bot_status(session, project.id, _promoted(OWNER_TG), now)
    assert change.kind == "added" and not change.resource.is_pending


def test_an_owner_without_linked_telegram_gets_every_chat_as_pending(session, now):
    unlinked = factories.make_project(factories.make_owner())
    change = resources.apply_bot_status(session, unlinked.id, _promoted(None), now)
    assert change.kind == "pending"


def test_the_owner_adding_the_chat_by_hand_vouches_for_it(session, project, now):
    resources.apply_bot_status(session, project.id, _promoted(STRANGER_TG), now)
    chat = {"id": -100777, "type": "supergroup", "title": "Gold Club Chat"}
    member = {"status": "administrator", "can_invite_users": True, "can_restrict_members": True}
    resource, created = record_resource(session, project.id, chat, member, now, require_admin=True)
    assert not created and not resource.is_pending and resource.is_usable


@pytest.fixture
def pending(app, logged_in_owner, now):
    with data(app) as session:
        owner = session.get(Owner, logged_in_owner.id)
        owner.telegram_user_id = OWNER_TG
        project = factories.make_project(owner)
        change = resources.apply_bot_status(session, project.id, _promoted(STRANGER_TG), now)
        return {"project": project.id, "resource": change.resource.id}


def test_the_project_page_shows_a_pending_chat_with_accept_and_dismiss(client, pending):
    page = text(client.get(f"/projects/{pending['project']}"))
    assert "waiting for you" in page
    assert f"Telegram id {STRANGER_TG}" in page
    assert "Accept" in page and "Dismiss" in page


def test_a_plan_cannot_use_a_pending_chat(app, client, pending):
    form = text(client.get(f"/projects/{pending['project']}/plans/new"))
    assert "Gold Club Chat (official)" not in form
    response = client.post(
        f"/projects/{pending['project']}/plans/new",
        data={
            "name": "Month",
            "resources": [str(pending["resource"])],
            "period_unit": "month",
            "period_count": "1",
        },
    )
    assert response.status_code == 400
    assert count(app, Plan) == 0


def test_accepting_a_pending_chat_makes_it_usable_and_offered(app, client, pending):
    url = f"/projects/{pending['project']}/resources/{pending['resource']}/accept"
    response = client.post(url, headers=HTMX)
    assert response.status_code == 200
    assert "is now one of this project" in text(response)
    assert fetch(app, Resource, pending["resource"]).is_usable
    assert "Gold Club Chat (official)" in text(
        client.get(f"/projects/{pending['project']}/plans/new")
    )
    again = client.post(url)
    assert again.status_code == 303  # already accepted: told so, nothing changes


def test_dismissing_a_pending_chat_forgets_it(app, client, pending):
    url = f"/projects/{pending['project']}/resources/{pending['resource']}/dismiss"
    assert client.post(url).status_code == 303
    assert count(app, Resource) == 0
    assert client.post(url).status_code == 404


def test_an_accepted_chat_cannot_be_dismissed(app, client, pending):
    base = f"/projects/{pending['project']}/resources/{pending['resource']}"
    client.post(base + "/accept")
    assert client.post(base + "/dismiss").status_code == 404
    with data(app) as session:
        assert session.scalars(select(Resource)).one().is_usable
