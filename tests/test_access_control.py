"""Owners see and change only their own projects, resources, plans and activity.

Every route of the dashboard's owner side is tried with another owner's ids: each answers 404 and
changes nothing. A second test makes sure no route of these blueprints is left out of the list.
"""

import pytest

from tests.conftest import NOW
from tests.dashboard_helpers import HTMX, data, fetch
from tests.factories import make_code, make_owner, make_plan, make_project, make_resource
from webapp.models import Owner, OwnerSession, Plan, Project, Resource

BLUEPRINTS = ("auth", "dashboard", "projects", "plans")

# (endpoint, method, path) — {project}, {resource}, {plan} are the other owner's; {mine} is a
# project of the logged-in owner, used where an id of theirs sits under a project of ours.
FOREIGN_ROUTES = [
    ("projects.show_project", "GET", "/projects/{project}"),
    ("projects.edit_project", "GET", "/projects/{project}/edit"),
    ("projects.edit_project", "POST", "/projects/{project}/edit"),
    ("projects.replace_token", "POST", "/projects/{project}/token"),
    ("projects.add_resource", "POST", "/projects/{project}/resources"),
    ("projects.check_resource", "POST", "/projects/{project}/resources/{resource}/check"),
    ("projects.check_resource", "POST", "/projects/{mine}/resources/{resource}/check"),
    ("projects.accept_pending_resource", "POST", "/projects/{project}/resources/{pending}/accept"),
    ("projects.accept_pending_resource", "POST", "/projects/{mine}/resources/{pending}/accept"),
    (
        "projects.dismiss_pending_resource",
        "POST",
        "/projects/{project}/resources/{pending}/dismiss",
    ),
    ("projects.dismiss_pending_resource", "POST", "/projects/{mine}/resources/{pending}/dismiss"),
    ("dashboard.end_account_session", "POST", "/account/sessions/{session}/end"),
    ("projects.project_health", "GET", "/projects/{project}/health"),
    ("projects.set_join_mode", "POST", "/projects/{project}/resources/{resource}/join-mode"),
    ("projects.set_join_mode", "POST", "/projects/{mine}/resources/{resource}/join-mode"),
    ("plans.new_plan", "GET", "/projects/{project}/plans/new"),
    ("plans.new_plan", "POST", "/projects/{project}/plans/new"),
    ("plans.list_plans", "GET", "/plans?project={project}"),
    ("plans.edit_plan", "GET", "/plans/{plan}/edit"),
    ("plans.edit_plan", "POST", "/plans/{plan}/edit"),
    ("plans.archive", "POST", "/plans/{plan}/archive"),
    ("plans.restore", "POST", "/plans/{plan}/restore"),
    ("dashboard.activity", "GET", "/activity?project={project}"),
    ("projects.project_texts", "GET", "/projects/{project}/texts"),
    ("projects.save_project_texts", "POST", "/projects/{project}/texts"),
    ("projects.preview_project_texts", "POST", "/projects/{project}/texts/preview"),
    ("projects.save_project_languages", "POST", "/projects/{project}/languages"),
    ("dashboard.test_link", "POST", "/setup/test-link/{code}"),
    ("projects.project_health", "GET", "/projects/{project}/health"),
    ("projects.set_join_mode", "POST", "/projects/{project}/resources/{resource}/join-mode"),
    ("projects.set_join_mode", "POST", "/projects/{mine}/resources/{resource}/join-mode"),
]

# Routes without ids of anybody's: they only ever show the logged-in owner's own things.
OWN_ROUTES = [
    ("dashboard.home", "GET", "/"),
    ("dashboard.activity", "GET", "/activity"),
    ("dashboard.account", "GET", "/account"),
    ("dashboard.account", "POST", "/account"),
    ("dashboard.change_account_password", "POST", "/account/password"),
    ("dashboard.end_other_account_sessions", "POST", "/account/sessions/others/end"),
    ("dashboard.connect_telegram", "GET", "/telegram"),
    ("dashboard.new_link_token", "POST", "/telegram/link"),
    ("dashboard.unlink_telegram", "POST", "/telegram/unlink"),
    ("projects.list_projects", "GET", "/projects"),
    ("projects.new_project", "GET", "/projects/new"),
    ("projects.new_project", "POST", "/projects/new"),
    ("plans.list_plans", "GET", "/plans"),
    ("auth.logout", "POST", "/logout"),
]

PUBLIC_ENDPOINTS = {"auth.login", "auth.signup", "auth.forgot_password", "auth.reset_password"}


@pytest.fixture
def world(app, logged_in_owner):
    """The logged-in owner's project, and another owner's project, resource and archived and
    active plans."""
    with data(app) as session:
        mine = make_project(session.get(Owner, logged_in_owner.id), name="Mine")
        theirs = make_project(make_owner("eve@example.com"), name="Theirs")
        resource = make_resource(theirs, "Their Channel", can_restrict_members=False)
        plan = make_plan(theirs, name="Their Plan", resources=[resource])
        code = make_code(plan, NOW)
        pending = make_resource(theirs, "Their Pending Chat", pending_since=NOW)
        eve_logged_in = OwnerSession(
            owner_id=theirs.owner_id, token_hash="e" * 64, created_at=NOW, last_seen_at=NOW
        )
        session.add(eve_logged_in)
        session.flush()
        ids = {
            "mine": mine.id,
            "project": theirs.id,
            "resource": resource.id,
            "plan": plan.id,
            "pending": pending.id,
            "session": eve_logged_in.id,
            "code": code.id,
        }
    return ids


def _snapshot(app, ids):
    project = fetch(app, Project, ids["project"])
    resource = fetch(app, Resource, ids["resource"])
    plan = fetch(app, Plan, ids["plan"])
    pending = fetch(app, Resource, ids["pending"])
    eve_logged_in = fetch(app, OwnerSession, ids["session"])
    return (
        (pending.pending_since, eve_logged_in.ended_at),
        (project.name, project.bot_token),
        (resource.title, resource.can_restrict_members, resource.updated_at),
        (plan.name, plan.period_count, plan.archived_at),
    )


FORM = {
    "name": "Taken over",
    "chat": "@theirs",
    "bot_token": "5550001111:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1",
    "resources": ["1"],
    "period_unit": "day",
    "period_count": "1",
}


@pytest.mark.parametrize(
    ("endpoint", "method", "path"), FOREIGN_ROUTES, ids=[f"{m} {p}" for _, m, p in FOREIGN_ROUTES]
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_another_owners_ids_answer_404_and_change_nothing(
    app, client, world, endpoint, method, path, htmx
):
    before = _snapshot(app, world)
    url = path.format(**world)
    headers = HTMX if htmx else {}
    if method == "GET":
        response = client.get(url, headers=headers)
    else:
        response = client.post(url, data=FORM, headers=headers)
    assert response.status_code == 404, response.get_data(as_text=True)[:500]
    assert _snapshot(app, world) == before
    assert "Their" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("endpoint", "method", "path"), OWN_ROUTES)
def test_routes_without_ids_never_show_another_owners_things(
    app, client, world, endpoint, method, path
):
    before = _snapshot(app, world)
    form = {"timezone": "UTC"}
    response = client.get(path) if method == "GET" else client.post(path, data=form)
    assert response.status_code in (200, 302, 303, 400)
    assert "Their" not in response.get_data(as_text=True)
    assert _snapshot(app, world) == before


@pytest.mark.parametrize(
    ("endpoint", "method", "path"),
    FOREIGN_ROUTES + OWN_ROUTES,
    ids=[f"{m} {p}" for _, m, p in FOREIGN_ROUTES + OWN_ROUTES],
)
def test_anonymous_visitors_are_sent_to_log_in_from_every_route(app, endpoint, method, path):
    client = app.test_client()
    url = path.format(mine=1, project=1, resource=1, plan=1, pending=1, session=1, code=1)
    response = client.get(url) if method == "GET" else client.post(url, data=FORM)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_every_route_of_the_owner_side_is_in_these_lists(app):
    covered = {(e, m) for e, m, _ in FOREIGN_ROUTES + OWN_ROUTES}
    routes = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint not in BLUEPRINTS or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((rule.endpoint, method))
    assert routes - covered == set()
    assert routes, "no routes found: did the blueprints get registered?"
