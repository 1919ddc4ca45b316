"""Insight in the dashboard: funnels on the code, batch and plan pages with the people behind
each number, the batch's unused codes, the charts of the business and the CSV exports — on a
seeded history, in the owner's time zone, and only ever the owner's own."""

import csv
import io
from datetime import timedelta

import pytest

from tests.conftest import NOW
from tests.dashboard_helpers import HTMX, data, is_fragment, text
from tests.factories import make_owner, make_plan, make_project
from tests.insight_history import AT, BERLIN, TODAY, seed_history
from webapp.domain.codes import CodeRequest, create_codes


def rows_of(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # Excel's cue for UTF-8
    assert b"\r\n" in body
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def history(app, logged_in_owner):
    return seed_history(app, logged_in_owner.id)


# -- Funnels -----------------------------------------------------------------------------------


def test_the_code_page_loads_its_funnel_which_counts_each_step_with_rates(client, history):
    page = text(client.get(f"/codes/{history.code_ids[0]}"))
    assert f'hx-get="/insight/funnel/code/{history.code_ids[0]}"' in page

    response = client.get(f"/insight/funnel/code/{history.code_ids[0]}", headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and is_fragment(response)
    # Ann and Bob opened it; Ann activated and joined both chats; Bob was refused: used up.
    assert 'Opened the link</th>\n        <td class="num"><a' in body
    assert '>2</a></td>\n        <td class="num"></td>' in body
    assert '>1</a></td>\n        <td class="num">50%</td>' in body  # activated
    assert "used up" in body and "Gold Channel" in body and "Gold Chat" in body


def test_the_batch_funnel_counts_codes_opened_activated_and_unused_and_offers_them(client, history):
    page = text(client.get(f"/codes/batches/{history.batch_id}"))
    assert f'hx-get="/insight/funnel/batch/{history.batch_id}"' in page
    body = text(client.get(f"/insight/funnel/batch/{history.batch_id}"))
    assert "<html" in body  # without htmx: a page of its own
    for number, label in ((4, "codes"), (3, "ever opened"), (3, "activated"), (1, "unused")):
        assert f'<span class="num">{number}</span><span class="label">{label}</span>' in body

    unused = client.get(f"/insight/batches/{history.batch_id}/unused.csv")
    assert "no-store" in unused.headers["Cache-Control"]  # the codes are secrets
    rows = rows_of(unused)
    assert rows[0][0] == "Code"
    assert [r[0] for r in rows[1:]] == [history.codes[3]]
    assert "gold-club-3-months-1-unused-codes.csv" in unused.headers["Content-Disposition"]


def test_the_plan_page_shows_the_plans_funnel_with_renewals(client, history):
    page = text(client.get(f"/plans/{history.plan_id}/edit"))
    assert f'hx-get="/insight/funnel/plan/{history.plan_id}"' in page
    body = text(client.get(f"/insight/funnel/plan/{history.plan_id}", headers=HTMX))
    # Opened: Ann, Bob twice (two codes), Eve twice; renewed: Eve, on her first code.
    assert "Renewed</th>" in body
    renewed = body.split("Renewed</th>")[1]
    assert renewed.lstrip().startswith('<td class="num"><a href="/insight/funnel/plan/')


def test_the_people_at_a_step_are_one_click_away(client, history):
    url = f"/insight/funnel/code/{history.code_ids[0]}/people"
    refused = text(client.get(url, query_string={"step": "refused", "detail": "used_up"}))
    assert "Bob Roe" in refused and "@bob" in refused and "Ann Lee" not in refused
    assert "Refused: used up" in refused
    joined = text(
        client.get(url, query_string={"step": "joined", "detail": str(history.channel_id)})
    )
    assert "Ann Lee" in joined and "Joined: Gold Channel" in joined
    # Berlin is an hour ahead of UTC in November.
    when = AT["ann"].astimezone(BERLIN).strftime("%d %b %Y, %H:%M")
    assert when in joined
    plan_people = text(
        client.get(
            f"/insight/funnel/plan/{history.plan_id}/people", query_string={"step": "renewed"}
        )
    )
    assert history.codes[2] in plan_people


def test_an_unknown_step_or_scope_is_a_404_not_a_500(client, history):
    base = f"/insight/funnel/code/{history.code_ids[0]}"
    assert client.get(f"{base}/people", query_string={"step": "nonsense"}).status_code == 404
    assert client.get(f"{base}/people").status_code == 404
    assert client.get(f"/insight/funnel/owner/{history.code_ids[0]}").status_code == 404
    assert client.get("/insight/funnel/code/999999").status_code == 404


# -- Charts ------------------------------------------------------------------------------------


def test_charts_draw_activations_members_and_weeks_in_the_owners_time_zone(client, history):
    assert 'hx-get="/insight/charts"' in text(client.get("/"))
    project_page = text(client.get(f"/projects/{history.project_id}"))
    assert f'hx-get="/insight/charts?project={history.project_id}"' in project_page

    body = text(client.get("/insight/charts", query_string={"days": 30}, headers=HTMX))
    assert body.count("<svg") == 3 and "<script" not in body and "style=" not in body
    assert "4 activations in the last 30 days; days in Europe/Berlin" in body
    today = TODAY.isoformat()
    two_days_ago = (TODAY - timedelta(days=2)).isoformat()
    # Day, activations, renewals, ended, active members at the end of the day.
    assert f'<th scope="row">{today}</th><td>3</td><td>1</td><td>0</td><td>3</td>' in body
    assert f'<th scope="row">{two_days_ago}</th><td>1</td><td>0</td><td>0</td><td>1</td>' in body
    assert "<title>" in body and ": 3 activations</title>" in body

    rows = rows_of(client.get("/insight/charts.csv", query_string={"days": 90}))
    assert rows[0][0] == "Day (Europe/Berlin)" and len(rows) == 91
    assert rows[-1] == [today, "3", "1", "2", "0", "3"]


@pytest.mark.parametrize("days", ["7", "abc", "-30"])
def test_a_period_other_than_30_90_or_365_days_is_refused_with_a_message(client, history, days):
    response = client.get("/insight/charts", query_string={"days": days}, headers=HTMX)
    assert response.status_code == 400
    assert "Choose 30, 90 or 365 days." in text(response)
    assert client.get("/insight/charts.csv", query_string={"days": days}).status_code == 400


# -- Exports -----------------------------------------------------------------------------------


def test_the_filtered_code_list_exports_as_a_csv_with_the_same_filters(client, history):
    listing = text(client.get("/codes/", query_string={"batch": history.batch_id}))
    assert f"/insight/codes.csv?batch={history.batch_id}" in listing

    rows = rows_of(
        client.get(
            "/insight/codes.csv", query_string={"batch": history.batch_id, "status": "active"}
        )
    )
    assert rows[0][:5] == ["Code", "Activation link", "Project", "Plan", "Status"]
    assert rows[0][7] == "Expires (Europe/Berlin)"
    assert [r[0] for r in rows[1:]] == [history.codes[3]]
    everything = rows_of(client.get("/insight/codes.csv"))
    assert len(everything) == 1 + 5


def test_members_export_has_one_row_per_subscription_with_formulas_defused(client, history):
    rows = rows_of(client.get("/insight/members.csv"))
    assert rows[0][:3] == ["Name", "Username", "Telegram user id"]
    names = sorted(r[0] for r in rows[1:])
    assert names == ["'=cmd|' /C calc'!A0", "Ann Lee", "Bob Roe"]
    assert {r[5] for r in rows[1:]} == {"active"}


def test_activations_over_a_date_range_say_who_which_code_when_and_how_it_ended(client, history):
    today = TODAY.isoformat()
    response = client.get("/insight/activations.csv", query_string={"from": today, "to": today})
    rows = rows_of(response)
    assert "activations-" + today in response.headers["Content-Disposition"]
    assert rows[0][0] == "Activated (Europe/Berlin)"
    assert [(r[1], r[4], r[7]) for r in rows[1:]] == [
        ("Bob Roe", history.codes[1], "new"),
        ("'=cmd|' /C calc'!A0", history.codes[2], "new"),
        ("'=cmd|' /C calc'!A0", rows[3][4], "renewal"),
    ]
    assert rows[2][9] == "active, renewed since"
    whole = rows_of(client.get("/insight/activations.csv"))  # the last 30 days by default
    assert len(whole) == 1 + 4


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("yesterday", "2026-11-30", "Enter a date as YYYY-MM-DD"),
        ("2026-11-30", "2026-11-01", "The last day comes before the first."),
        ("2010-01-01", "2026-01-01", "Choose at most five years at a time."),
    ],
)
def test_a_bad_date_range_is_refused_with_a_message_and_the_input_kept(
    client, history, first, last, message
):
    response = client.get("/insight/activations.csv", query_string={"from": first, "to": last})
    assert response.status_code == 400
    body = text(response)
    assert message in body and f'value="{first}"' in body and f'value="{last}"' in body


def test_the_exports_page_offers_every_export(client, history):
    body = text(client.get("/insight/exports"))
    for url in ("/insight/activations.csv", "/insight/members.csv", "/insight/codes.csv"):
        assert url in body


# -- Only the owner's own ----------------------------------------------------------------------


@pytest.fixture
def theirs(app, history):
    with data(app) as session:
        project = make_project(make_owner("eve@example.com"), name="Theirs")
        plan = make_plan(project, "Their plan")
        batch, codes = create_codes(
            session,
            project.id,
            CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=2),
            owner_id=project.owner_id,
            now=NOW,
        )
        ids = {"project": project.id, "plan": plan.id, "batch": batch.id, "code": codes[0].id}
    return ids


FOREIGN = [
    ("insight.funnel_view", "/insight/funnel/code/{code}"),
    ("insight.funnel_view", "/insight/funnel/batch/{batch}"),
    ("insight.funnel_view", "/insight/funnel/plan/{plan}"),
    ("insight.people", "/insight/funnel/plan/{plan}/people?step=opened"),
    ("insight.unused_csv", "/insight/batches/{batch}/unused.csv"),
    ("insight.charts_view", "/insight/charts?project={project}"),
    ("insight.charts_csv", "/insight/charts.csv?project={project}"),
    ("insight.exports_page", "/insight/exports?project={project}"),
    ("insight.codes_export", "/insight/codes.csv?project={project}"),
    ("insight.codes_export", "/insight/codes.csv?batch={batch}"),
    ("insight.codes_export", "/insight/codes.csv?plan={plan}"),
    ("insight.members_export", "/insight/members.csv?project={project}"),
    ("insight.activations_export", "/insight/activations.csv?project={project}"),
]


@pytest.mark.parametrize(("endpoint", "path"), FOREIGN)
def test_another_owners_ids_are_404_everywhere(client, theirs, endpoint, path):
    assert client.get(path.format(**theirs)).status_code == 404


def test_every_insight_route_is_in_the_access_list_and_needs_a_login(app, client, history):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("insight.")}
    assert endpoints == {endpoint for endpoint, _ in FOREIGN}
    client.post("/logout")
    response = client.get("/insight/members.csv")
    assert response.status_code in (302, 401)


def test_the_members_page_offers_its_members_as_a_csv(client, history):
    page = text(client.get("/members/", query_string={"project": history.project_id}))
    assert f"/insight/members.csv?project={history.project_id}" in page
