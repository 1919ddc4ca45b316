"""The newcomer's journey through the sandbox Telegram, in a browser: no Telegram account.

The owner works in the dashboard; the same person, as a customer, in the sandbox's own page.
The real bot process polls the sandbox, real worker runs do the lifecycle, and the sandbox's
clock control moves every process's time so the reminder and the removal come within the test.
Run at a desktop and a phone width; screenshots go to test-output/screenshots/sandbox-*.
"""

import re
import subprocess
import sys

import pytest

from tests.bot_process import ROOT, BotProcess, bot_env
from tests.conftest import NOW
from tests.factories import PASSWORD, make_owner
from webapp.extensions import db

pytestmark = [pytest.mark.browser, pytest.mark.slow]
EMAIL = "newcomer@example.com"


@pytest.fixture
def sandbox_server(app_config):
    from webapp.sandbox.server import SandboxTelegram

    server = SandboxTelegram(require_start=True, clock_start=NOW.timestamp()).start()
    app_config["SANDBOX_API_URL"] = server.url
    app_config["SANDBOX_ENABLED"] = True
    yield server
    server.stop()


@pytest.fixture
def processes_env(sandbox_server, migrated, redis_url):
    env = bot_env(migrated, redis_url, "http://127.0.0.1:9")  # real Telegram: unreachable
    env["SANDBOX_API_URL"] = sandbox_server.url
    return env


@pytest.fixture
def bot(processes_env):
    process = BotProcess(processes_env).start()
    yield process
    if process.running:
        assert process.stop() == 0, process.log()
    process.log_path.unlink(missing_ok=True)


def run_worker(env) -> None:
    """What the worker does in the next minute: every job queued so far, then it exits."""
    done = subprocess.run([sys.executable, "-m", "webapp.worker", "--burst"], cwd=ROOT, env=env,
                          capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-3000:]


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_newcomer_sees_a_customer_join_get_a_reminder_and_be_removed_without_telegram(
    sandbox_server, processes_env, bot, page, live_server, screenshot, width
):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 900})
    page.set_default_timeout(30_000)
    shot = lambda name: screenshot(f"sandbox-{width}-{name}")  # noqa: E731
    with live_server.app.app_context():
        make_owner(EMAIL)
        db.session.commit()
    page.goto("/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()

    # The home page's checklist says where to start.
    expect(page.get_by_role("heading", name="Get set up")).to_be_visible()
    shot("1-checklist")

    # Try with a sandbox bot: a project, a bot, a channel and a group, no token.
    page.goto("/projects/new")
    page.get_by_label("Name").first.fill("Gold Club")
    page.get_by_role("button", name="Try with a sandbox bot").click()
    expect(page.get_by_text("Sandbox project “Gold Club” is ready")).to_be_visible()
    expect(page.locator("#resources").get_by_text("Gold Club Channel").first).to_be_visible()
    shot("2-project")
    project_url = page.url

    # A plan of 2 days opening the channel, and a code for it.
    page.goto(project_url.rstrip("/") + "/plans/new")
    page.locator("input[name=name]").fill("2 days")
    page.get_by_label("Gold Club Channel").check()
    page.get_by_role("radio", name="Days").check()
    page.locator("input[name=period_count]").fill("2")
    page.get_by_role("button", name="Create plan").click()
    expect(page.get_by_text("2 days").first).to_be_visible()
    page.goto("/codes/new")
    wizard = page.locator("#wizard")
    wizard.get_by_label(re.compile("2 days")).check()
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_label("How many activations?").fill("1")
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_label("1 week").check()
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Code created")).to_be_visible()
    code = page.locator(".code-big").first.inner_text().strip()
    shot("3-code")

    # The dry run passes: the checklist is complete.
    page.goto("/")
    page.get_by_role("button", name=re.compile("^Test")).click()
    expect(page.get_by_text("✔ The link works.")).to_be_visible()

    # As a customer in the sandbox: open the link, press START, get the Join button.
    page.goto("/codes/")
    page.get_by_text(code).first.click()
    page.get_by_role("link", name="Open it in the sandbox Telegram").click()
    page.get_by_label("You are").select_option(label="+ A new customer")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_label("You are")).to_have_text(re.compile("Alice"))
    page.get_by_role("button", name="START").click()
    conversation = page.locator("#conversation")
    expect(conversation.get_by_text(re.compile("activated|Welcome|access", re.I)).first)\
        .to_be_visible()
    join = conversation.get_by_role("button", name=re.compile("Join"))
    expect(join.first).to_be_visible()
    shot("4-activated")
    join.first.click()
    expect(page.get_by_text("You joined Gold Club Channel.")).to_be_visible()
    expect(page.locator(".chat-list").get_by_text("Gold Club Channel")).to_be_visible()
    shot("5-joined")

    # The owner sees the member in the dashboard.
    page.goto("/codes/")
    page.get_by_text(code).first.click()
    expect(page.get_by_text("Alice").first).to_be_visible()
    shot("6-dashboard-member")

    # A day later: the reminder.
    page.goto("/sandbox")
    page.get_by_role("button", name="+1 day").click()
    run_worker(processes_env)
    expect(page.locator("#conversation").get_by_text(re.compile("ends (tomorrow|in about)")))\
        .to_be_visible()
    shot("7-reminder")

    # Another day: access ends and Alice is removed from the channel.
    page.get_by_role("button", name="+1 day").click()
    run_worker(processes_env)
    run_worker(processes_env)  # the removal the end queued, and its message
    expect(page.locator("#conversation").get_by_text(re.compile("has ended"))).to_be_visible()
    page.reload()
    expect(page.locator(".chat-list").get_by_text("Gold Club Channel")).to_have_count(0)
    shot("8-removed")
