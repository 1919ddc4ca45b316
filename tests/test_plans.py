"""Plans: create, edit, archive; every value checked on the server."""

import pytest
from sqlalchemy import select

from tests.dashboard_helpers import HTMX, count, data, fetch, is_fragment, text
from tests.factories import make_plan, make_project, make_resource
from webapp.models import Owner, Plan


@pytest.fixture
def project(app, logged_in_owner):
    """(project id, [resource ids]) of the logged-in owner, with two usable channels."""
    with data(app) as session:
        project = make_project(session.get(Owner, logged_in_owner.id), name="Gold Club")
        channel = make_resource(project, "Gold Club Channel")
        chat = make_resource(project, "Gold Club Chat", chat_type="supergroup")
        ids = (project.id, [channel.id, chat.id])
    return ids


def _form(resource_ids, **overrides):
    form = {
        "name": "Gold Club, 3 months",
        "resources": resource_ids,
        "period_unit": "month",
        "period_count": "3",
        "renewal_text": "Pay again at example.com/renew",
    }
    form.update(overrides)
    return form


def _plans(app):
    with data(app) as session:
        return [
            (p.name, p.period_unit, p.period_count, p.renewal_text, [r.id for r in p.resources])
            for p in session.scalars(select(Plan).order_by(Plan.id))
        ]


def test_a_plan_is_created_with_its_resources_and_period(app, client, project):
    project_id, resources = project
    page = client.get(f"/projects/{project_id}/plans/new")
    assert page.status_code == 200
    assert "Gold Club Channel" in text(page) and "Gold Club Chat" in text(page)

    response = client.post(f"/projects/{project_id}/plans/new", data=_form(resources))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/plans?project={project_id}"
    assert _plans(app) == [
        ("Gold Club, 3 months", "month", 3, "Pay again at example.com/renew", resources)
    ]
    listed = text(client.get(response.headers["Location"]))
    assert "Gold Club, 3 months" in listed
    assert "3 months" in listed
    assert "created (3 months)" in listed


def test_a_day_plan_and_a_lifetime_plan(app, client, project):
    project_id, resources = project
    client.post(
        f"/projects/{project_id}/plans/new",
        data=_form(resources[:1], name="Trial", period_unit="day", period_count="7"),
    )
    # A count typed before switching to lifetime is ignored rather than refused.
    client.post(
        f"/projects/{project_id}/plans/new",
        data=_form(resources, name="Forever", period_unit="lifetime", period_count="abc"),
    )
    assert [(n, u, c) for n, u, c, _, _ in _plans(app)] == [
        ("Trial", "day", 7),
        ("Forever", "lifetime", None),
    ]
    listed = text(client.get("/plans"))
    assert "7 days" in listed and "lifetime" in listed


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Give the plan a name"),
        ({"name": "x" * 121}, "name", "Use at most 120 characters."),
        ({"resources": []}, "resources", "Pick at least one channel or group."),
        ({"period_unit": "week"}, "period_unit", "Choose days, months or lifetime."),
        ({"period_count": ""}, "period_count", "Enter how many months the access lasts."),
        ({"period_count": "0"}, "period_count", "from 1 to 120"),
        ({"period_count": "121"}, "period_count", "from 1 to 120"),
        (
            {"period_unit": "day", "period_count": "3651"},
            "period_count",
            "Enter a whole number of days from 1 to 3650.",
        ),
        ({"period_count": "three"}, "period_count", "Enter a whole number, like 3."),
        ({"renewal_text": "x" * 1001}, "renewal_text", "Use at most 1000 characters."),
    ],
)
def test_wrong_plan_values_are_refused_with_a_message_and_nothing_saved(
    app, client, project, overrides, field, message
):
    project_id, resources = project
    form = {**_form(resources), **overrides}
    response = client.post(f"/projects/{project_id}/plans/new", data=form)
    assert response.status_code == 400
    body = text(response)
    assert message in body
    assert f'id="{field}-errors"' in body
    if field != "name":
        assert 'value="Gold Club, 3 months"' in body  # the input is kept
    assert count(app, Plan) == 0


def test_every_wrong_field_gets_its_own_message_at_once(app, client, project):
    project_id, _ = project
    response = client.post(
        f"/projects/{project_id}/plans/new",
        data={"name": "", "period_unit": "day", "period_count": "0", "renewal_text": ""},
    )
    assert response.status_code == 400
    body = text(response)
    for field in ("name", "resources", "period_count"):
        assert f'id="{field}-errors"' in body
    assert count(app, Plan) == 0


def test_a_resource_of_another_project_cannot_be_put_in_a_plan(app, client, project):
    project_id, resources = project
    with data(app):
        other = make_resource(make_project(name="Someone else's"), "Their Channel")
        other_id = other.id
    response = client.post(
        f"/projects/{project_id}/plans/new", data=_form([resources[0], other_id])
    )
    assert response.status_code == 400
    assert "Pick channels and groups of this project only." in text(response)
    assert count(app, Plan) == 0


def test_a_project_without_resources_says_to_add_one_first(app, client, logged_in_owner):
    with data(app) as session:
        project_id = make_project(session.get(Owner, logged_in_owner.id)).id
    page = text(client.get(f"/projects/{project_id}/plans/new"))
    assert "Add a channel or group first" in page


def test_editing_a_plan(app, client, project):
    project_id, resources = project
    with data(app) as session:
        plan_id = _make_plan(session, project_id, resources[:1])
    page = client.get(f"/plans/{plan_id}/edit")
    assert page.status_code == 200
    assert 'value="3 months"' in text(page)
    response = client.post(
        f"/plans/{plan_id}/edit",
        data=_form(resources, name="Gold, 1 year", period_count="12", renewal_text=""),
    )
    assert response.status_code == 303
    assert _plans(app) == [("Gold, 1 year", "month", 12, None, resources)]

    refused = client.post(f"/plans/{plan_id}/edit", data=_form([], name="Changed"))
    assert refused.status_code == 400
    assert 'value="Changed"' in text(refused)
    assert _plans(app)[0][0] == "Gold, 1 year"


def _make_plan(session, project_id, resource_ids):
    from webapp.models import Project, Resource

    project = session.get(Project, project_id)
    resources = [session.get(Resource, rid) for rid in resource_ids]
    return make_plan(project, resources=resources).id


def test_archiving_and_restoring_a_plan_over_htmx_swaps_its_row(app, client, project):
    project_id, resources = project
    with data(app) as session:
        plan_id = _make_plan(session, project_id, resources)
    list_page = text(client.get("/plans"))
    assert 'hx-confirm="Archive' in list_page

    response = client.post(f"/plans/{plan_id}/archive", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert "HX-Request" in response.headers["Vary"]
    assert f'id="plan-{plan_id}"' in text(response)
    assert "archived" in text(response)
    assert fetch(app, Plan, plan_id).archived_at is not None
    assert "No plans yet" in text(client.get("/plans"))
    assert "3 months" in text(client.get("/plans?archived=1"))

    response = client.post(f"/plans/{plan_id}/restore")
    assert response.status_code == 303
    assert fetch(app, Plan, plan_id).archived_at is None
    assert "is active again" in text(client.get(response.headers["Location"]))

    client.post(f"/plans/{plan_id}/archive")
    assert "archived" in text(client.get("/plans"))  # the flash after the plain form's redirect
    response = client.post(f"/plans/{plan_id}/restore", headers=HTMX)
    assert response.status_code == 200 and is_fragment(response)
    assert "is active again" in text(response)
    assert fetch(app, Plan, plan_id).archived_at is None


def test_the_plan_list_filters_by_project_and_serves_a_fragment_to_htmx(
    app, client, project, logged_in_owner
):
    project_id, resources = project
    with data(app) as session:
        _make_plan(session, project_id, resources)
        second = make_project(session.get(Owner, logged_in_owner.id), name="Signals")
        make_plan(second, name="Signals weekly", unit="day", count=7)
        second_id = second.id
    both = text(client.get("/plans"))
    assert "3 months" in both and "Signals weekly" in both
    only = client.get(f"/plans?project={second_id}", headers=HTMX)
    assert is_fragment(only)
    assert "HX-Request" in only.headers["Vary"]
    assert "Signals weekly" in text(only) and "3 months" not in text(only)


def test_plans_page_empty_states(app, client, logged_in_owner):
    assert "First connect a bot" in text(client.get("/plans"))
    with data(app) as session:
        make_project(session.get(Owner, logged_in_owner.id))
    assert "No plans yet" in text(client.get("/plans"))


def test_plan_names_and_renewal_texts_are_escaped(app, client, project):
    project_id, resources = project
    client.post(
        f"/projects/{project_id}/plans/new",
        data=_form(resources, name="<b>bold</b>", renewal_text="<script>x()</script>"),
    )
    for path in ("/plans", f"/plans/{fetch_plan_id(app)}/edit"):
        body = text(client.get(path))
        assert "<b>bold</b>" not in body and "<script>x()" not in body
        assert "&lt;b&gt;bold&lt;/b&gt;" in body


def fetch_plan_id(app) -> int:
    with data(app) as session:
        return session.scalars(select(Plan.id)).one()
