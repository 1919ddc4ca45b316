"""The owner's own texts in a real browser: the preview follows the typing, as the bot sends it."""

import re

import pytest

from tests import factories
from webapp.extensions import db

pytestmark = pytest.mark.browser


def test_typing_an_override_updates_the_preview_and_a_broken_one_is_refused(
    page, live_server, screenshot
):
    from playwright.sync_api import expect

    with live_server.app.app_context():
        owner = factories.make_owner("texts.owner@example.com")
        project = factories.make_project(owner, name="Gold Club")
        factories.make_plan(project, name="3 months")
        project_id = project.id
        db.session.commit()

    page.goto("/login")
    page.get_by_label("E-mail").fill("texts.owner@example.com")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.goto(f"/projects/{project_id}/texts?lang=ru")

    welcome = page.locator('[data-text="welcome"] .tg-bubble')
    expect(welcome).to_contain_text("👋 Добро пожаловать в Gold Club!")

    page.get_by_label("Welcome").fill("Привет, {name}! Это <b>{project}</b>.")
    expect(welcome).to_have_text("Привет, Ann! Это Gold Club.")
    expect(welcome.locator("b")).to_have_text("Gold Club")

    page.get_by_label("Welcome").fill("Привет, {имя}!")
    expect(page.locator('[data-text="welcome"]')).to_contain_text("Unknown placeholder {имя}")
    screenshot("project-texts-preview")
    page.get_by_role("button", name="Save Русский texts").click()
    expect(page.locator(".field-errors").first).to_contain_text("Unknown placeholder")
    expect(page.get_by_label("Welcome")).to_have_value("Привет, {имя}!")

    page.get_by_label("Welcome").fill("Привет, {name}!")
    page.get_by_role("button", name="Save Русский texts").click()
    expect(page.get_by_text("texts are saved")).to_be_visible()
    expect(welcome).to_have_text("Привет, Ann!")
