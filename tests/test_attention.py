"""The "needs attention" inbox: each item says what to do and leaves once it is solved."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import NOW
from tests.dashboard_helpers import HTMX, data, fetch, text
from tests.factories import make_code, make_owner, make_plan, make_project, make_resource, tg_user
from webapp import jobs
from webapp.domain import bot_health
from webapp.domain.activation import activate_code
from webapp.domain.attention import needs_attention
from webapp.domain.memberships import membership_for, note_link_delivery
from webapp.extensions import db
from webapp.models import Customer, Membership, Owner, Removal, Resource


def kinds(inbox):
    return [item.kind for item in inbox.items]


@pytest.fixture
def club(session, now):
    project = make_project(created_at=now - timedelta(days=30))
    channel = make_resource(project, "Gold Channel")
    plan = make_plan(project, resources=[channel])
    return project, channel, plan


def failed_removal(session, project, resource, now, error="Bad Request: not enough rights"):
    customer = Customer(project_id=project.id, telegram_user_id=5001, first_name="Ann",
                        username="ann")
    session.add(customer)
    session.flush()
    removal = Removal(project_id=project.id, customer_id=customer.id, resource_id=resource.id,
                      reason="expired", status="failed", last_error=error, created_at=now)
    session.add(removal)
    session.flush()
    return removal


def test_nothing_wrong_means_an_empty_inbox(session, now, club):
    project, _, _ = club
    assert not needs_attention(session, project.owner_id, now)


def test_failed_removal_says_who_where_and_what_to_do_until_retried(session, now, club):
    project, channel, _ = club
    removal = failed_removal(session, project, channel, now)
    inbox = needs_attention(session, project.owner_id, now)
    item = inbox.items[0]
    assert item.kind == "removal_failed" and item.removal_id == removal.id
    assert "Ann (@ann) could not be removed from Gold Channel" in item.problem
    assert "“Ban users” right in Gold Channel, then tap Retry" in item.todo
    removal.status = "pending"
    assert "removal_failed" not in kinds(needs_attention(session, project.owner_id, now))


def test_chat_where_the_bot_lost_a_right_is_listed_until_it_is_given_back(session, now, club):
    project, channel, _ = club
    channel.can_restrict_members = False
    item = needs_attention(session, project.owner_id, now).items[0]
    assert item.kind == "rights_missing" and "“Ban users”" in item.problem
    channel.can_restrict_members = True
    assert not needs_attention(session, project.owner_id, now)


def test_undelivered_join_link_is_recorded_and_cleared_when_one_is_made(session, now, club):
    project, channel, plan = club
    result = activate_code(session, project.id, make_code(plan, now).code, tg_user(), now)
    membership = membership_for(session, project.id, result.customer.id, channel.id)
    note_link_delivery(session, set(), {membership.id: "Bad Request: not enough rights"}, now)
    item = needs_attention(session, project.owner_id, now).items[0]
    assert item.kind == "link_undelivered" and "join link for Gold Channel" in item.problem
    note_link_delivery(session, {membership.id}, {}, now)
    assert session.get(Membership, membership.id).link_undelivered_at is None
    assert not needs_attention(session, project.owner_id, now)


def test_code_nearly_used_up_and_code_expiring_soon_are_listed(session, now, club):
    project, _, plan = club
    popular = make_code(plan, now, max_activations=10)
    for _ in range(9):
        activate_code(session, project.id, popular.code, tg_user(), now)
    expiring = make_code(plan, now, max_activations=3, expires_at=now + timedelta(days=1))
    inbox = needs_attention(session, project.owner_id, now)
    assert [(i.kind, i.code_id) for i in inbox.items] == [
        ("code_nearly_used_up", popular.id),
        ("code_expiring", expiring.id),
    ]
    assert "9 of 10" in inbox.items[0].problem


def test_a_bot_that_has_not_polled_for_minutes_is_not_receiving_updates(session, now, club):
    project, _, _ = club
    fresh = needs_attention(session, project.owner_id, now, last_polls={project.id: now})
    assert not fresh
    silent = needs_attention(
        session, project.owner_id, now, last_polls={project.id: now - timedelta(minutes=30)}
    )
    assert kinds(silent) == ["bot_silent"]
    assert "not receiving" in silent.items[0].problem or "not received" in silent.items[0].problem


def test_another_owners_problems_never_show(session, now, club):
    project, channel, _ = club
    other = make_project(make_owner("eve@example.com"))
    failed_removal(session, other, make_resource(other, "Eve's Chat"), now)
    assert not needs_attention(session, project.owner_id, now)


# -- In the dashboard ---------------------------------------------------------------------------


@pytest.fixture
def owner_world(app, logged_in_owner, monkeypatch):
    queued = []
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: queued.extend(ids) or len(ids))
    with data(app) as session:
        owner = session.get(Owner, logged_in_owner.id)
        project = make_project(owner, created_at=NOW - timedelta(days=1))
        channel = make_resource(project, "Gold Channel")
        make_plan(project, resources=[channel])
        removal = failed_removal(session, project, channel, NOW)
        project_id, removal_id = project.id, removal.id
    with app.app_context():
        bot_health.record_poll(app.extensions["admit_redis"], project_id, NOW)
    return project_id, removal_id, queued


def test_home_page_lists_a_failed_removal_with_retry(app, client, owner_world):
    body = text(client.get("/"))
    assert "Needs attention" in body and "could not be removed from Gold Channel" in body
    assert "Retry" in body and "not receiving" not in body


def test_retry_from_the_inbox_queues_the_removal_and_it_leaves_the_list(app, client, owner_world):
    _, removal_id, queued = owner_world
    response = client.post(f"/attention/removals/{removal_id}/retry", headers=HTMX)
    assert response.status_code == 200 and "Trying again" in text(response)
    assert fetch(app, Removal, removal_id).status == "pending" and queued == [removal_id]
    assert "could not be removed" not in text(response)
    again = client.post(f"/attention/removals/{removal_id}/retry", headers=HTMX)
    assert "Nothing to retry" in text(again) and queued == [removal_id]


def test_the_inbox_polls_itself(app, client, owner_world):
    fragment = client.get("/attention/")
    assert fragment.status_code == 200 and "<html" not in text(fragment)
    assert 'hx-trigger="every 20s"' in text(fragment)


def test_another_owners_removal_cannot_be_retried(app, client, owner_world):
    with data(app) as session:
        other = make_project(make_owner("eve@example.com"))
        removal_id = failed_removal(session, other, make_resource(other, "Eve's"), NOW).id
    assert client.post(f"/attention/removals/{removal_id}/retry").status_code == 404
    assert fetch(app, Removal, removal_id).status == "failed"


def test_undelivered_links_are_recorded_by_the_join_link_step(app, emulator, owner_world):
    """Telegram refusing to make a link is written down, not guessed from missing rows."""
    from bot.join_links import issue_join_links

    project_id, _, _ = owner_world
    with app.app_context():
        session = db.session
        customer = session.scalars(select(Customer).where(Customer.project_id == project_id)).one()
        channel = session.scalars(select(Resource).where(Resource.project_id == project_id)).one()
        channel.bot_is_admin = False
        session.commit()
        result = issue_join_links(session, project_id, customer.id, [channel.id], NOW)
        assert result.missing == ["Gold Channel"]
        membership = session.scalars(select(Membership)).one()
        assert membership.link_undelivered_at == NOW
        assert "not an administrator" in membership.link_undelivered_reason
