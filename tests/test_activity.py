"""The dashboard home, the activity feed, the account's time zone, and Connect Telegram."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard_helpers import HTMX, data, fetch, is_fragment, text
from tests.factories import make_code, make_owner, make_plan, make_project, tg_user
from webapp.dashboard.rendering import localtime
from webapp.domain import audit
from webapp.domain.accounts import set_timezone
from webapp.domain.activation import activate_code
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.owner_link import (
    LINK_LIFETIME,
    OwnerLinkExpired,
    is_owner_link_token,
    issue_link_token,
    link_telegram_account,
)
from webapp.domain.rollback import rollback_code
from webapp.models import Owner

T0 = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


def _owner(session, owner_ref):
    return session.get(Owner, owner_ref.id)


# Home ---------------------------------------------------------------------------------------


def test_home_without_projects_says_to_connect_a_bot(client, logged_in_owner):
    page = text(client.get("/"))
    assert "Connect your first bot" in page
    assert "/projects/new" in page


def test_home_shows_each_project_with_its_counts_and_next_step(app, client, logged_in_owner):
    with data(app) as session:
        gold = make_project(_owner(session, logged_in_owner), name="Gold Club")
        plan = make_plan(gold)
        code = make_code(plan, T0, max_activations=5)
        activate_code(session, gold.id, code.code, tg_user(), T0)
        make_project(_owner(session, logged_in_owner), name="Fresh Project")
        make_project(make_owner(), name="Not Mine")
    page = text(client.get("/"))
    assert "Gold Club" in page and "Fresh Project" in page
    assert "Not Mine" not in page
    gold_card = page.split("Gold Club")[1].split("Fresh Project")[0]
    for number, label in ((1, "channels"), (1, "plans"), (1, "codes"), (1, "activations")):
        assert f'<span class="num">{number}</span><span class="label">{label}' in gold_card
    fresh_card = page.split("Fresh Project")[1]
    assert "make @" in fresh_card and "an administrator" in fresh_card


# Activity -----------------------------------------------------------------------------------


@pytest.fixture
def activity(app, logged_in_owner):
    """An activation at T0 and a rollback an hour later in the owner's project, and another
    owner's activation that must never show."""
    with data(app) as session:
        gold = make_project(_owner(session, logged_in_owner), name="Gold Club")
        plan = make_plan(gold, name="Gold 3 months")
        code = make_code(plan, T0, max_activations=3)
        activate_code(
            session, gold.id, code.code, tg_user(5001, username="ann", first_name="Ann"), T0
        )
        other_code = make_code(plan, T0)
        activate_code(session, gold.id, other_code.code, tg_user(5002, username="bob"), T0)
        rollback_code(
            session, gold.id, other_code.id, owner_id=gold.owner_id, now=T0 + timedelta(hours=1)
        )
        stranger = make_project(make_owner(), name="Stranger Club")
        stranger_code = make_code(make_plan(stranger, name="Stranger plan"), T0)
        activate_code(session, stranger.id, stranger_code.code, tg_user(6001, username="eve"), T0)
        ids = {"project": gold.id, "code": code.code, "rolled_back": other_code.code}
    return ids


def test_activity_lists_activations_and_rollbacks_newest_first(client, activity):
    page = text(client.get("/activity"))
    assert page.index("Rolled back") < page.index("Activated")
    assert activity["code"] in page and activity["rolled_back"] in page
    assert "@ann" in page and "Gold 3 months" in page
    assert "Stranger" not in page and "@eve" not in page
    assert "code.created" not in page


def test_activity_over_htmx_is_the_feed_fragment(client, activity):
    response = client.get("/activity", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert "HX-Request" in response.headers["Vary"]
    assert 'id="activity-feed"' in text(response)


def test_activity_can_be_narrowed_to_one_project(app, client, activity, logged_in_owner):
    with data(app) as session:
        signals_id = make_project(_owner(session, logged_in_owner), name="Signals").id
    assert "Nothing has happened yet" in text(client.get(f"/activity?project={signals_id}"))
    assert activity["code"] in text(client.get(f"/activity?project={activity['project']}"))


def test_activity_is_paginated(app, client, logged_in_owner):
    with data(app) as session:
        project = make_project(_owner(session, logged_in_owner))
        for n in range(55):
            audit.record(
                session,
                project.id,
                "code.activated",
                now=T0 + timedelta(minutes=n),
                details={"code": f"CODE-{n:03d}", "plan": "p", "ends_at": None},
            )
    first = text(client.get("/activity"))
    assert "CODE-054" in first and "CODE-005" in first and "CODE-004" not in first
    assert "Older →" in first and "← Newer" not in first
    second = client.get("/activity?page=2", headers=HTMX)
    assert is_fragment(second)
    body = text(second)
    assert "CODE-004" in body and "CODE-000" in body and "CODE-005" not in body
    assert "← Newer" in body and "Older →" not in body
    assert "No older activity" in text(client.get("/activity?page=9"))


def test_activity_without_events_says_what_will_appear(client, logged_in_owner):
    assert "Nothing has happened yet" in text(client.get("/activity"))


# Time zones ---------------------------------------------------------------------------------


def test_dates_are_shown_in_the_owners_time_zone(app, client, activity, logged_in_owner):
    assert "26 Nov 2026, 14:05" in text(client.get("/activity"))
    response = client.post("/account", data={"timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert fetch(app, Owner, logged_in_owner.id).timezone == "Asia/Tokyo"
    page = text(client.get("/activity"))
    assert "26 Nov 2026, 23:05" in page
    assert "Times are shown in Asia/Tokyo" in page


def test_an_unknown_time_zone_is_refused(app, client, logged_in_owner):
    response = client.post("/account", data={"timezone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "Pick a time zone from the list." in text(response)
    assert fetch(app, Owner, logged_in_owner.id).timezone == "UTC"


@pytest.mark.parametrize(
    "name", ["", "  ", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Europe"]
)
def test_only_zone_database_names_become_the_owners_time_zone(app, name):
    with data(app) as session:
        owner = make_owner()
        owner.timezone = "Europe/Berlin"
        session.flush()
        with pytest.raises(InvalidInput) as refused:
            set_timezone(session, owner, name)
        assert refused.value.field == "timezone"
        assert refused.value.message == "Pick a time zone from the list."
        assert owner.timezone == "Europe/Berlin"
        assert set_timezone(session, owner, " Asia/Tokyo ") == "Asia/Tokyo"
        assert owner.timezone == "Asia/Tokyo"


def test_a_zone_name_outside_the_list_is_refused_by_the_account_page(app, client, logged_in_owner):
    response = client.post("/account", data={"timezone": "../../etc/passwd"})
    assert response.status_code == 400
    assert "Pick a time zone from the list." in text(response)
    assert fetch(app, Owner, logged_in_owner.id).timezone == "UTC"


def test_the_account_page_shows_the_zone_picker(client, logged_in_owner):
    page = text(client.get("/account"))
    assert "owner@example.com" in page
    assert '<option selected value="UTC">' in page or 'value="UTC" selected' in page


def test_localtime_converts_aware_utc_to_a_zone_and_handles_daylight_saving():
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    winter = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert localtime(summer, "Europe/Berlin") == "01 Jul 2026, 14:00"
    assert localtime(winter, "Europe/Berlin") == "01 Jan 2026, 13:00"
    assert localtime(None, "Europe/Berlin") == "—"
    assert localtime(winter, "No/Such_Zone") == "01 Jan 2026, 12:00"


# Connect Telegram ---------------------------------------------------------------------------


def test_connect_telegram_needs_a_project_first(app, client, logged_in_owner):
    assert "First connect a bot" in text(client.get("/telegram"))
    response = client.post("/telegram/link")
    assert response.status_code == 303
    assert fetch(app, Owner, logged_in_owner.id).telegram_link_token is None


def test_a_one_time_deep_link_is_shown_for_each_projects_bot(app, client, logged_in_owner):
    with data(app) as session:
        make_project(_owner(session, logged_in_owner), bot_username="GoldClubBot")
        make_project(_owner(session, logged_in_owner), name="Signals", bot_username="SignalsBot")
    assert "Make a link" in text(client.get("/telegram"))
    response = client.post("/telegram/link", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    token = fetch(app, Owner, logged_in_owner.id).telegram_link_token
    assert is_owner_link_token(token)
    assert 1 <= len(token) <= 64
    body = text(response)
    assert f"https://t.me/GoldClubBot?start={token}" in body
    assert f"https://t.me/SignalsBot?start={token}" in body

    # A new link replaces the old one; without htmx the form redirects back to the page.
    again = client.post("/telegram/link")
    assert again.status_code == 303
    new_token = fetch(app, Owner, logged_in_owner.id).telegram_link_token
    assert new_token != token
    assert new_token in text(client.get("/telegram"))


def test_the_linked_account_is_shown_and_can_be_unlinked(app, client, logged_in_owner):
    with data(app) as session:
        owner = _owner(session, logged_in_owner)
        make_project(owner)
        owner.telegram_user_id = 5555
        owner.telegram_username = "olga"
    page = text(client.get("/telegram"))
    assert "@olga" in page and "5555" in page
    response = client.post("/telegram/unlink", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert "unlinked" in text(response)
    owner = fetch(app, Owner, logged_in_owner.id)
    assert owner.telegram_user_id is None and owner.telegram_username is None
    nothing = client.post("/telegram/unlink")
    assert nothing.status_code == 303
    assert "No Telegram account is linked." in text(client.get("/telegram"))


def test_the_bot_links_an_owner_with_the_token_once(app):
    with data(app) as session:
        owner = make_owner()
        bot = make_project(owner).id
        token = issue_link_token(session, owner, T0)
        linked = link_telegram_account(session, token, 5555, "olga", T0, via_project_id=bot)
        assert (linked.id, linked.telegram_user_id, linked.telegram_username) == (
            owner.id,
            5555,
            "olga",
        )
        assert linked.telegram_link_token is None
        with pytest.raises(NotFound):
            link_telegram_account(session, token, 5555, "olga", T0, via_project_id=bot)


def test_an_owner_link_works_for_an_hour_then_is_refused_and_changes_nothing(app):
    with data(app) as session:
        owner = make_owner()
        bot = make_project(owner).id
        token = issue_link_token(session, owner, T0)
        assert timedelta(hours=1) == LINK_LIFETIME
        with pytest.raises(OwnerLinkExpired):
            link_telegram_account(
                session, token, 5555, "olga", T0 + LINK_LIFETIME, via_project_id=bot
            )
        assert owner.telegram_user_id is None
        assert owner.telegram_link_token == token  # the dashboard can still say it expired
        just_in_time = T0 + LINK_LIFETIME - timedelta(seconds=1)
        assert (
            link_telegram_account(session, token, 5555, "olga", just_in_time, via_project_id=bot)
            is owner
        )
        assert owner.telegram_user_id == 5555
        assert (owner.telegram_link_token, owner.telegram_link_issued_at) == (None, None)


def test_an_owner_link_made_before_issue_times_were_kept_is_expired(app):
    with data(app) as session:
        owner = make_owner()
        bot = make_project(owner).id
        token = issue_link_token(session, owner, T0)
        owner.telegram_link_issued_at = None
        session.flush()
        with pytest.raises(OwnerLinkExpired):
            link_telegram_account(session, token, 5555, "olga", T0, via_project_id=bot)
        assert owner.telegram_user_id is None


def test_the_telegram_page_says_when_the_link_expires_and_offers_a_fresh_one(
    app, client, logged_in_owner, monkeypatch
):
    import webapp.dashboard as dashboard_views

    with data(app) as session:
        owner = _owner(session, logged_in_owner)
        owner.timezone = "Europe/Berlin"
        make_project(owner, bot_username="GoldClubBot")
    monkeypatch.setattr(dashboard_views, "utcnow", lambda: T0)
    made = text(client.post("/telegram/link", headers=HTMX))
    token = fetch(app, Owner, logged_in_owner.id).telegram_link_token
    assert fetch(app, Owner, logged_in_owner.id).telegram_link_issued_at == T0
    assert f"https://t.me/GoldClubBot?start={token}" in made
    assert "within an hour" in made
    assert "until <strong><time" in made and "26 Nov 2026, 16:05" in made  # 15:05 UTC, Berlin

    monkeypatch.setattr(dashboard_views, "utcnow", lambda: T0 + timedelta(minutes=61))
    page = text(client.get("/telegram"))
    assert "Your link has expired" in page
    assert token not in page
    assert "Make a new link" in page

    fresh = text(client.post("/telegram/link", headers=HTMX))
    new_token = fetch(app, Owner, logged_in_owner.id).telegram_link_token
    assert new_token != token and f"?start={new_token}" in fresh
    assert "26 Nov 2026, 17:06" in fresh and "expired" not in fresh


def test_a_telegram_account_moves_to_the_owner_whose_link_it_opened(app):
    with data(app) as session:
        first, second = make_owner(), make_owner()
        bots = make_project(first).id, make_project(second).id
        for owner, bot in zip((first, second), bots, strict=True):
            token = issue_link_token(session, owner, T0)
            link_telegram_account(session, token, 5555, "olga", T0, via_project_id=bot)
        assert first.telegram_user_id is None
        assert second.telegram_user_id == 5555


def test_an_owner_link_opened_through_another_owners_bot_is_refused_and_reveals_nothing(app):
    with data(app) as session:
        owner, other = make_owner(), make_owner()
        own_bot, other_bot = make_project(owner).id, make_project(other).id
        token = issue_link_token(session, owner, T0)
        with pytest.raises(NotFound):
            link_telegram_account(session, token, 5555, "olga", T0, via_project_id=other_bot)
        assert owner.telegram_user_id is None
        assert owner.telegram_link_token == token  # still good through the owner's own bot
        linked = link_telegram_account(session, token, 5555, "olga", T0, via_project_id=own_bot)
        assert linked is owner


@pytest.mark.parametrize("payload", ["", "owner_", "owner_short", "K7QF-M2XD-9PRT", "x" * 70])
def test_only_owner_link_tokens_are_taken_for_them(app, payload):
    assert not is_owner_link_token(payload)
    with data(app) as session, pytest.raises(NotFound):
        link_telegram_account(session, payload, 5555, None, T0, via_project_id=1)


def test_the_back_button_gets_a_whole_page_even_from_htmx(client, activity):
    restore = {**HTMX, "HX-History-Restore-Request": "true"}
    response = client.get("/activity?page=1", headers=restore)
    assert not is_fragment(response)
    assert "<html" in text(response)


def test_connect_telegram_serves_its_card_alone_to_htmx(app, client, logged_in_owner):
    with data(app) as session:
        make_project(_owner(session, logged_in_owner))
    page = client.get("/telegram")
    assert not is_fragment(page) and 'id="telegram-link"' in text(page)
    fragment = client.get("/telegram", headers=HTMX)
    assert is_fragment(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    assert 'id="telegram-link"' in text(fragment)


def test_home_shows_the_latest_activity(client, activity):
    page = text(client.get("/"))
    assert "Latest activity" in page
    assert activity["code"] in page and "Ann Lee" in page
    assert "Stranger" not in page
