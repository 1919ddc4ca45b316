"""Insight in a real browser: the funnel loads into the code, batch and plan pages, the people
are a click away, the charts draw on the home page (desktop and phone), exports download."""

import re

import pytest

from tests.factories import PASSWORD, make_owner
from tests.insight_history import seed_history
from webapp.extensions import db

pytestmark = pytest.mark.browser


def test_funnels_charts_and_exports_on_a_seeded_history(page, live_server, screenshot):
    from playwright.sync_api import expect

    with live_server.app.app_context():
        owner = make_owner("insight.owner@example.com")
        db.session.commit()
        owner_id = owner.id
    history = seed_history(live_server.app, owner_id)
    page.goto("/login")
    page.get_by_label("E-mail").fill("insight.owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()

    # Home: three charts drawn by the server, their numbers a click away.
    charts = page.locator("#insight-charts")
    expect(charts.locator("svg")).to_have_count(3)
    expect(charts).to_contain_text("4 activations in the last 30 days")
    screenshot("insight-home-charts")
    charts.get_by_role("link", name="90 days").click()
    expect(charts).to_contain_text("in the last 90 days")
    charts.get_by_text("The numbers as a table").click()
    expect(charts.locator("table tbody tr")).to_have_count(90)
    screenshot("insight-charts-table")

    # The code page loads its funnel; a number opens the people behind it.
    page.goto(f"/codes/{history.code_ids[0]}")
    funnel = page.locator(f"#funnel-code-{history.code_ids[0]}")
    expect(funnel).to_contain_text("Joined every chat")
    expect(funnel).to_contain_text("used up")
    screenshot("insight-code-funnel")
    funnel.locator("li", has_text="used up").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Refused: used up")).to_be_visible()
    expect(page.get_by_text("Bob Roe")).to_be_visible()
    screenshot("insight-funnel-people")

    # The batch page: codes opened, activated, unused, and the unused ones as a CSV.
    page.goto(f"/codes/batches/{history.batch_id}")
    batch = page.locator(f"#funnel-batch-{history.batch_id}")
    expect(batch).to_contain_text("ever opened")
    screenshot("insight-batch-funnel")
    with page.expect_download() as download:
        batch.get_by_role("link", name=re.compile("unused codes?")).click()
    path = download.value.path()
    assert history.codes[3] in path.read_text(encoding="utf-8-sig")

    page.goto(f"/plans/{history.plan_id}/edit")
    expect(page.locator(f"#funnel-plan-{history.plan_id}")).to_contain_text("Renewed")
    screenshot("insight-plan-funnel")

    page.goto("/insight/exports")
    screenshot("insight-exports")
    page.get_by_label("From").fill("2020-01-01")
    page.get_by_label("To").fill("2019-01-01")
    page.get_by_role("button", name="Download activations").click()
    expect(page.get_by_text("The last day comes before the first.")).to_be_visible()
    screenshot("insight-exports-error")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.locator("#insight-charts svg")).to_have_count(3)
    page.locator("#insight-charts").scroll_into_view_if_needed()
    screenshot("insight-home-charts-phone", full_page=False)
