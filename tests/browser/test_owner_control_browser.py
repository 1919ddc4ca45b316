"""Owner control in a real browser, at desktop and phone width: pause a code, roll back a whole
batch, find a member, and clear an item of "needs attention" with Retry."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import NOW
from tests.factories import PASSWORD, make_code, make_owner, make_plan, make_project, make_resource
from webapp.domain import bot_health
from webapp.domain.activation import activate_code
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.customers import TelegramUser
from webapp.extensions import db
from webapp.models import AccessCode, Customer, Removal
from webapp.queues import get_redis

pytestmark = pytest.mark.browser

EMAIL = "olga.owner@example.com"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def build_world(app):
    """A project with a paused-to-be code used by Ann, a batch used by Bob and Cy, and a removal
    of Dan that failed because the bot lacked a right."""
    with app.app_context():
        session = db.session
        owner = make_owner(EMAIL)
        project = make_project(owner, name="Gold Club", bot_username="GoldClubBot",
                               created_at=NOW - timedelta(days=10))
        channel = make_resource(project, "Gold Channel")
        chat = make_resource(project, "Gold Chat", chat_type="supergroup")
        plan = make_plan(project, "3 months", resources=[channel, chat])
        code = make_code(plan, NOW, max_activations=5)
        people = {}
        for uid, first in ((5101, "Ann"), (5102, "Bob"), (5103, "Cy"), (5104, "Dan")):
            people[first] = TelegramUser(uid, first, "Lee", first.lower())
        activate_code(session, project.id, code.code, people["Ann"], NOW)
        batch, codes = create_codes(
            session, project.id,
            CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=4),
            owner_id=owner.id, now=NOW,
        )
        activate_code(session, project.id, codes[0].code, people["Bob"], NOW)
        activate_code(session, project.id, codes[1].code, people["Cy"], NOW)
        dan = activate_code(session, project.id, make_code(plan, NOW).code, people["Dan"], NOW)
        removal = Removal(
            project_id=project.id, customer_id=dan.customer.id, resource_id=chat.id,
            reason="expired", status="failed", created_at=NOW,
            last_error="Bad Request: not enough rights to restrict/unrestrict chat member",
        )
        session.add(removal)
        session.commit()
        bot_health.record_poll(get_redis(), project.id, NOW)
        return {"code_id": code.id, "batch_id": batch.id, "removal_id": removal.id,
                "project_id": project.id}


@pytest.mark.parametrize("width", list(WIDTHS))
def test_pause_batch_rollback_members_and_needs_attention(page, live_server, screenshot, width):
    from playwright.sync_api import expect

    app = live_server.app
    world = build_world(app)
    page.set_viewport_size(WIDTHS[width])
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm before "Pause all unused"

    page.goto("/login")
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("#attention")).to_be_visible()

    # Pause: the code refuses activations, and says so, without anyone losing access.
    page.goto(f"/codes/{world['code_id']}")
    page.evaluate("window.sameDocument = true")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("#code-detail .notice")).to_contain_text("keeps their access")
    expect(page.locator("#code-detail h1 .badge")).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    assert page.evaluate("window.sameDocument") is True, "the page reloaded instead of htmx"
    screenshot(f"owner-1-paused-{width}")
    with app.app_context():
        assert db.session.get(AccessCode, world["code_id"]).paused_at is not None

    # The whole batch: one combined preview, then the rollback.
    page.goto(f"/codes/batches/{world['batch_id']}")
    expect(page.locator(".stat-tiles")).to_contain_text("2 used")
    page.get_by_role("button", name="Pause all unused").click()
    expect(page.locator("#batch .notice")).to_contain_text("2 codes paused")
    page.get_by_role("link", name=re.compile("Roll back the whole batch")).click()
    confirm = page.locator("#batch-confirm")
    expect(confirm).to_contain_text("2 customers will be removed from Gold Channel and Gold Chat")
    screenshot(f"owner-2-batch-preview-{width}")
    confirm.get_by_role("button", name=re.compile("Roll back 4 codes")).click()
    expect(page.locator("#batch .notice")).to_contain_text("4 codes rolled back")
    expect(page.locator(".stat-tiles")).to_contain_text("4 rolled back")
    screenshot(f"owner-3-batch-rolled-back-{width}")

    # Members: Bob is now ended and being removed; search finds him by @username.
    page.goto(f"/members/?project={world['project_id']}")
    page.locator("#member-q").fill("@bob")
    rows = page.locator("#member-rows")
    expect(rows).to_contain_text("Bob Lee")
    expect(rows).not_to_contain_text("Ann Lee")
    expect(rows).to_contain_text("removal pending")
    screenshot(f"owner-4-members-{width}")
    rows.get_by_role("link", name="Bob Lee").click()
    expect(page.locator("#member h1")).to_have_text("Bob Lee")
    expect(page.locator("#member")).to_contain_text("rolled back")

    # Needs attention: Dan's failed removal says what to do; Retry clears it from the list.
    page.goto("/")
    inbox = page.locator("#attention")
    expect(inbox).to_contain_text("Dan Lee (@dan) could not be removed from Gold Chat")
    expect(inbox).to_contain_text("“Ban users” right in Gold Chat")
    screenshot(f"owner-5-needs-attention-{width}")
    inbox.get_by_role("button", name="Retry").click()
    expect(inbox).to_contain_text("Trying again")
    expect(inbox).not_to_contain_text("could not be removed")
    with app.app_context():
        assert db.session.get(Removal, world["removal_id"]).status == "pending"
        assert db.session.scalars(select(Customer).where(Customer.username == "bob")).one()
    screenshot(f"owner-6-retried-{width}")

    if width == "phone":
        header = page.locator(".site-header").bounding_box()
        assert header["height"] < 120, f"the phone navigation takes {header['height']} px"
