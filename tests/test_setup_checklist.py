"""The home page's setup checklist and its dry run of an activation link."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from tests.dashboard_helpers import data
from tests.factories import make_plan, make_project, make_resource
from webapp.models import AccessCode, Activation, AuditEvent, Owner

STEP = re.compile(r'<li class="(done|next|todo)" data-step="(\w+)"')


def _steps(html: str) -> dict[str, str]:
    return {key: state for state, key in STEP.findall(html)}


def test_a_new_owner_sees_the_checklist_with_connecting_a_bot_next(client, logged_in_owner):
    html = client.get("/").get_data(as_text=True)
    assert _steps(html) == {"bot": "next", "channel": "todo", "plan": "todo", "code": "todo",
                            "test": "todo"}
    assert "Try with a sandbox bot" in html


def _code(session, owner_id, *, rights=True, expires_at=None, max_activations=1):
    owner = session.get(Owner, owner_id)
    project = make_project(owner)
    resource = make_resource(project, can_restrict_members=rights)
    plan = make_plan(project, resources=[resource])
    code = AccessCode(project_id=project.id, plan_id=plan.id, code="GOLD-TEST-0001",
                      lookup_key="GOLDTEST0001", max_activations=max_activations,
                      expires_at=expires_at)
    session.add(code)
    session.flush()
    return project, resource, code


def test_steps_tick_themselves_as_things_exist(app, client, logged_in_owner):
    with data(app) as session:
        _code(session, logged_in_owner.id)
    html = client.get("/").get_data(as_text=True)
    assert _steps(html) == {"bot": "done", "channel": "done", "plan": "done", "code": "done",
                            "test": "next"}


def test_the_link_test_checks_code_bot_and_rights_and_activates_nothing(
    app, client, logged_in_owner, emulator
):
    with data(app) as session:
        project, resource, code = _code(session, logged_in_owner.id)
        token, bot_id, chat_id, code_id = (project.bot_token, project.bot_user_id,
                                           resource.chat_id, code.id)
    emulator.add_bot(token=token, username="GoldClubBot")
    emulator.add_chat(chat_id, type="channel", title="Gold")
    emulator.set_chat_admin(chat_id, bot_id)
    response = client.post(f"/setup/test-link/{code_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "✔ The link works." in html and "nothing was activated" in html
    with data(app) as session:
        assert session.scalar(select(func.count()).select_from(Activation)) == 0
        assert session.get(AccessCode, code_id).activation_count == 0
    # Every step done: the checklist has done its job and leaves the home page.
    assert "Get set up" not in client.get("/").get_data(as_text=True)


def test_the_link_test_names_each_problem_and_does_not_tick(
    app, client, logged_in_owner, emulator, now
):
    with data(app) as session:
        project, resource, code = _code(session, logged_in_owner.id,
                                        expires_at=now - timedelta(days=1))
        token, bot_id, chat_id, code_id = (project.bot_token, project.bot_user_id,
                                           resource.chat_id, code.id)
    emulator.add_bot(token=token, username="GoldClubBot")
    emulator.add_chat(chat_id, type="channel", title="Gold")
    emulator.set_chat_admin(chat_id, bot_id, can_restrict_members=False)
    html = client.post(f"/setup/test-link/{code_id}").get_data(as_text=True)
    assert "✘ The link would not work yet." in html
    assert "It is expired." in html
    assert "The bot may not ban users there." in html
    assert _steps(client.get("/").get_data(as_text=True))["test"] == "next"
    with data(app) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "link.tested")).one()
        assert event.details["ok"] is False


def test_the_link_test_says_when_telegram_refuses_the_bot(app, client, logged_in_owner, emulator):
    with data(app) as session:
        _project, _resource, code = _code(session, logged_in_owner.id)
        code_id = code.id
    html = client.post(f"/setup/test-link/{code_id}").get_data(as_text=True)
    assert response_ok(html) is False
    assert "Telegram says: Unauthorized" in html


def response_ok(html: str) -> bool:
    return "✔ The link works." in html


def test_testing_another_owners_code_is_a_404(app, client, logged_in_owner, auth):
    other = auth.create_owner("other@example.com")
    with data(app) as session:
        _project, _resource, code = _code(session, other.id)
        code_id = code.id
    assert client.post(f"/setup/test-link/{code_id}").status_code == 404
    assert client.post("/setup/test-link/999999").status_code == 404
