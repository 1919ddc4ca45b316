"""The owner's dashboard in a real browser: sign up to rollback, against the Bot API emulator."""

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import HTMX_COPY, base_template_htmx, sri_sha384
from tests.conftest import NOW
from webapp.domain.activation import activate_code
from webapp.domain.customers import TelegramUser
from webapp.extensions import db
from webapp.models import AccessCode, Batch, Removal

pytestmark = pytest.mark.browser

EMAIL = "ann.owner@example.com"
PASSWORD = "a long enough password"
BOT_TOKEN = "777001:AAH-browser-test-token"
CHANNEL_ID, CHAT_ID = -1001000000101, -1001000000102


def test_base_template_integrity_matches_the_local_htmx_copy():
    if not HTMX_COPY.exists():
        pytest.skip(f"no local htmx copy at {HTMX_COPY}")
    src, integrity = base_template_htmx()
    assert "htmx.org@2.0.11" in src
    assert integrity == sri_sha384(HTMX_COPY)


def test_owner_flow_from_sign_up_to_rollback(page, live_server, emulator, screenshot, tmp_path):
    from playwright.sync_api import expect

    bot = emulator.add_bot(BOT_TOKEN, "GoldClubBot", "Gold Club Bot")
    emulator.add_chat(CHANNEL_ID, "channel", "Gold Channel")
    emulator.add_chat(CHAT_ID, "supergroup", "Gold Chat")
    for chat_id in (CHANNEL_ID, CHAT_ID):
        emulator.set_chat_admin(
            chat_id, bot["id"], can_invite_users=True, can_restrict_members=True
        )

    # Sign up.
    page.goto("/signup")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign up|create", re.I)).click()
    expect(page.get_by_text(EMAIL).first).to_be_visible()
    assert page.evaluate("typeof htmx") == "object", "htmx did not load from the local copy"

    # A project, checked with getMe at the emulator, and its two resources.
    page.goto("/projects/new")
    page.get_by_label("Project name").fill("Gold Club")
    page.get_by_label("Bot token").fill(BOT_TOKEN)
    page.get_by_role("button", name=re.compile("create", re.I)).click()
    expect(page.get_by_text("@GoldClubBot").first).to_be_visible()
    for chat_id, title in ((CHANNEL_ID, "Gold Channel"), (CHAT_ID, "Gold Chat")):
        page.locator("#add-resource input[name=chat]").fill(str(chat_id))
        page.locator("#add-resource button[type=submit]").click()
        expect(page.locator("#resources").get_by_text(title).first).to_be_visible()
    screenshot("project")
    project_url = page.url

    # A plan of 3 months opening both.
    page.goto(project_url.rstrip("/") + "/plans/new")
    page.locator("input[name=name]").fill("3 months")
    page.get_by_label("Gold Channel").check()
    page.get_by_label("Gold Chat").check()
    page.get_by_role("radio", name="Months").check()
    page.locator("input[name=period_count]").fill("3")
    page.get_by_role("button", name="Create plan").click()
    expect(page.get_by_text("3 months").first).to_be_visible()
    page.goto("/plans")
    screenshot("plans")

    # A single code through the wizard, one htmx step at a time (the page never reloads).
    page.goto("/codes/new")
    page.evaluate("window.sameDocument = true")
    wizard = page.locator("#wizard")
    wizard.get_by_label(re.compile("3 months")).check()
    screenshot("codes-wizard-plan")
    wizard.get_by_role("button", name="Next").click()
    expect(wizard.get_by_label("How many activations?")).to_be_visible()
    wizard.get_by_label("How many activations?").fill("5")
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_label("1 week").check()
    wizard.get_by_role("button", name="Next").click()
    expect(wizard.get_by_text("One code or many?")).to_be_visible()
    wizard.get_by_label("Note").fill("Paid by bank transfer <invoice 1042>")
    # Back and forward again: nothing typed is lost.
    wizard.get_by_role("button", name="Back").click()
    expect(wizard.get_by_label("1 week")).to_be_checked()
    wizard.get_by_role("button", name="Next").click()
    expect(wizard.get_by_label("Note")).to_have_value("Paid by bank transfer <invoice 1042>")
    wizard.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Code created")).to_be_visible()
    assert page.evaluate("window.sameDocument") is True
    link = page.locator("#wizard input.link").input_value()
    single_code = link.rsplit("=", 1)[1]
    assert link == f"https://t.me/GoldClubBot?start={single_code}"
    expect(page.locator("#wizard svg.qr")).to_be_visible()
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    screenshot("codes-wizard-single-created")

    # A bulk of 501 is refused inline, input kept; 500 then works and its CSV downloads.
    page.get_by_role("link", name="Make another code").click()
    # The project's only plan comes preselected; each step is waited for before the next click.
    expect(wizard.get_by_label(re.compile("3 months"))).to_be_checked()
    wizard.get_by_role("button", name="Next").click()
    expect(wizard.get_by_label("How many activations?")).to_be_visible()
    wizard.get_by_role("button", name="Next").click()
    expect(wizard.get_by_label("No expiry")).to_be_visible()
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_label("Bulk generation (CSV)").check()
    expect(wizard.get_by_label("Custom code")).to_be_hidden()
    wizard.get_by_label("How many codes?").fill("501")
    wizard.get_by_role("button", name="Create").click()
    error = wizard.locator("#count-errors")
    expect(error).to_contain_text("between 1 and 500")
    expect(wizard.get_by_label("How many codes?")).to_have_value("501")
    expect(wizard.get_by_label("How many codes?")).to_have_attribute("aria-invalid", "true")
    screenshot("codes-wizard-validation-error")
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Batch)) == 0
    wizard.get_by_label("How many codes?").fill("500")
    wizard.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="500 codes created")).to_be_visible()
    screenshot("codes-wizard-bulk-created")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "gold-club-3-months-500-codes.csv"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert len(rows) == 500 and len({r["Code"] for r in rows}) == 500
    assert all(r["Activation link"] == f"https://t.me/GoldClubBot?start={r['Code']}" for r in rows)
    assert {r["Plan"] for r in rows} == {"3 months"}
    assert {r["Max activations"] for r in rows} == {"1"}

    # Batches: the generation is there to download again.
    page.goto("/codes/batches")
    expect(page.locator("#batch-rows tbody tr")).to_have_count(1)
    screenshot("codes-batches")

    # The list: active search and filters swap the results in place.
    page.goto("/codes/")
    expect(page.locator("#code-results tbody tr")).to_have_count(50)
    expect(page.get_by_role("link", name="Older →")).to_be_visible()
    screenshot("codes-list")
    page.get_by_label("Search by code").press_sequentially(single_code[:9].lower(), delay=30)
    expect(page.locator("#code-results tbody tr").first).to_contain_text(single_code)
    expect(page.locator("#code-results tbody tr")).to_have_count(1)
    assert "q=" in page.url  # the search is in the address, so reload and back keep it
    page.get_by_label("Search by code").fill("")
    page.get_by_label("Status").select_option("used_up")
    expect(page.get_by_text("No codes match")).to_be_visible()

    # Two customers activate the single code (the bot's side, done directly here).
    with live_server.app.app_context():
        project_id, code_id = db.session.execute(
            select(AccessCode.project_id, AccessCode.id).where(AccessCode.code == single_code)
        ).one()
        for user_id, name in ((5101, "ann"), (5102, "bob")):
            user = TelegramUser(user_id, name.title(), "Lee", name)
            activate_code(db.session, project_id, single_code, user, NOW)
        db.session.commit()

    # Detail and rollback: the confirmation says what will happen; confirming updates in place.
    page.goto(f"/codes/{code_id}")
    expect(page.locator(".activations-table tbody tr")).to_have_count(2)
    expect(page.get_by_role("cell", name="@bob")).to_be_visible()
    screenshot("codes-detail")
    page.evaluate("window.sameDocument = true")
    page.get_by_role("link", name="Roll back…").click()
    confirm = page.locator("#rollback-area")
    expect(confirm).to_contain_text("2 customers will be removed from Gold Channel and Gold Chat")
    expect(confirm).to_contain_text("Gold Chat: 2 customers removed")
    screenshot("codes-rollback-confirm")
    confirm.get_by_role("button", name=re.compile("Roll back and remove 2 customers")).click()
    expect(page.locator("#code-detail .notice")).to_contain_text("was rolled back")
    expect(page.locator("#code-detail .badge").first).to_have_text("rolled back")
    assert page.evaluate("window.sameDocument") is True
    screenshot("codes-rolled-back")
    with live_server.app.app_context():
        assert db.session.get(AccessCode, code_id).deleted_at is not None
        removals = db.session.scalar(
            select(func.count()).select_from(Removal).where(Removal.reason == "rolled_back")
        )
        assert removals == 4  # two customers, two resources each

    # The owner's other main pages, for a person to look at.
    for path, name in (("/", "home"), ("/activity", "activity"), ("/telegram", "connect-telegram")):
        page.goto(path)
        expect(page.locator("main")).to_be_visible()
        screenshot(name)

    # Phone width: the list stays readable (tables scroll inside their box, not the page).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/codes/")
    screenshot("codes-list-phone", full_page=False)
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390 + 1, f"the page scrolls sideways on a phone ({page_width}px)"
