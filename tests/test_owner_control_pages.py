"""Owner control in the dashboard: pausing and editing codes, batches, one activation, members."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import test_codes_pages
from tests.conftest import NOW
from tests.dashboard_helpers import HTMX, count, fetch, is_fragment, text
from tests.factories import tg_user
from webapp import jobs
from webapp.domain.activation import activate_code
from webapp.domain.codes import CodeRequest, create_codes
from webapp.extensions import db
from webapp.models import (
    AccessCode,
    Activation,
    AuditEvent,
    Customer,
    Removal,
    Resource,
    Subscription,
)

# The access-code pages' owner with a project and plans, and another owner's things.
gold = test_codes_pages.gold
stranger = test_codes_pages.stranger


@pytest.fixture(autouse=True)
def no_redis_jobs(monkeypatch):
    queued = []
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: queued.extend(ids) or len(ids))
    return queued


def _code(app, plan_id, max_activations=3, users=0):
    with app.app_context():
        _, codes = create_codes(
            db.session, _project_of(plan_id),
            CodeRequest(plan_id=plan_id, max_activations=max_activations, expires_at=None),
            owner_id=None, now=NOW,
        )
        code = codes[0]
        people = [
            activate_code(db.session, code.project_id, code.code, tg_user(), NOW).customer.id
            for _ in range(users)
        ]
        db.session.commit()
        return code.id, people


def _project_of(plan_id):
    from webapp.models import Plan

    return db.session.get(Plan, plan_id).project_id


def _batch(app, plan_id, count_=3, activate=()):
    with app.app_context():
        batch, codes = create_codes(
            db.session, _project_of(plan_id),
            CodeRequest(plan_id=plan_id, max_activations=1, expires_at=None, count=count_),
            owner_id=None, now=NOW,
        )
        for index in activate:
            code = codes[index]
            activate_code(db.session, code.project_id, code.code, tg_user(), NOW)
        db.session.commit()
        return batch.id, [c.id for c in codes]


# -- Pause, resume, edit ------------------------------------------------------------------------


def test_pausing_a_code_in_the_dashboard_shows_it_paused_and_keeps_its_members(app, client, gold):
    code_id, people = _code(app, gold.plan_id, users=1)
    response = client.post(f"/codes/{code_id}/pause", headers=HTMX)
    assert response.status_code == 200 and is_fragment(response)
    body = text(response)
    assert "paused" in body and "Resume" in body and "keeps their access" in body
    with app.app_context():
        sub = db.session.scalars(select(Subscription)).one()
        assert sub.ended_at is None
    assert count(app, Removal) == 0
    assert "Paused" in text(client.get(f"/codes/{code_id}"))  # the history says so


def test_paused_filter_in_the_list_shows_only_paused_codes(app, client, gold):
    paused, _ = _code(app, gold.plan_id)
    running, _ = _code(app, gold.plan_id)
    client.post(f"/codes/{paused}/pause")
    body = text(client.get("/codes/?status=paused", headers=HTMX))
    assert f"/codes/{paused}" in body and f"/codes/{running}" not in body


def test_resume_makes_the_code_work_again(app, client, gold):
    code_id, _ = _code(app, gold.plan_id)
    client.post(f"/codes/{code_id}/pause")
    response = client.post(f"/codes/{code_id}/resume")
    assert response.status_code == 303
    assert fetch(app, AccessCode, code_id).paused_at is None


def test_editing_a_code_saves_and_records_the_change(app, client, gold):
    code_id, _ = _code(app, gold.plan_id, max_activations=3, users=1)
    form = {"max_activations": "10", "expires_at": "2099-01-31T18:00", "note": "VIP list"}
    response = client.post(f"/codes/{code_id}/edit", data=form, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#code-detail"
    code = fetch(app, AccessCode, code_id)
    assert (code.max_activations, code.note) == (10, "VIP list")
    assert code.expires_at.year == 2099
    assert "1/10" in text(response) and "Edited" in text(response)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"max_activations": "0"}, "between 1 and"),
        ({"max_activations": "lots"}, "whole number"),
        ({"max_activations": "5", "expires_at": "2001-01-01T00:00"}, "in the future"),
        ({"max_activations": "5", "expires_at": "tomorrow"}, "like 2027-01-31"),
        ({"max_activations": "5", "note": "x" * 300}, "at most 255"),
    ],
)
def test_a_bad_edit_says_why_keeps_the_input_and_changes_nothing(app, client, gold, form, message):
    code_id, _ = _code(app, gold.plan_id, max_activations=3, users=1)
    response = client.post(f"/codes/{code_id}/edit", data=form, headers=HTMX)
    assert response.status_code == 400
    assert message in text(response)
    code = fetch(app, AccessCode, code_id)
    assert (code.max_activations, code.expires_at, code.note) == (3, None, None)


def test_undoing_one_activation_previews_then_removes_only_that_customer(app, client, gold):
    code_id, people = _code(app, gold.plan_id, users=2)
    with app.app_context():
        activation = db.session.scalars(
            select(Activation).where(Activation.customer_id == people[0])
        ).one()
        activation_id = activation.id
    url = f"/codes/{code_id}/activations/{activation_id}/rollback"
    preview = client.get(url, headers=HTMX)
    assert "1 customer will be removed from Gold Channel and Gold Chat" in text(preview)
    assert count(app, Removal) == 0
    response = client.post(url, headers=HTMX)
    assert "activation was undone" in text(response)
    assert fetch(app, AccessCode, code_id).activation_count == 1
    with app.app_context():
        assert {r.customer_id for r in db.session.scalars(select(Removal))} == {people[0]}


# -- Batches ------------------------------------------------------------------------------------


def test_batch_page_counts_used_unused_paused_and_activations(app, client, gold):
    batch_id, _ = _batch(app, gold.plan_id, count_=3, activate=[0])
    body = text(client.get(f"/codes/batches/{batch_id}"))
    assert "<strong>1</strong> used" in body and "<strong>2</strong> unused" in body
    assert "<strong>0</strong> paused" in body and "<strong>1</strong> activation" in body
    assert "Pause all unused" in body and "Roll back the whole batch" in body


def test_pause_all_unused_pauses_only_codes_nobody_used(app, client, gold):
    batch_id, ids = _batch(app, gold.plan_id, count_=3, activate=[0])
    response = client.post(f"/codes/batches/{batch_id}/pause", headers=HTMX)
    assert "2 codes paused" in text(response)
    assert [fetch(app, AccessCode, i).paused_at is not None for i in ids] == [False, True, True]
    response = client.post(f"/codes/batches/{batch_id}/resume", headers=HTMX)
    assert "2 codes resumed" in text(response)


def test_batch_downloads_again_with_each_codes_status_and_who_activated_it(app, client, gold):
    batch_id, ids = _batch(app, gold.plan_id, count_=2, activate=[1])
    response = client.get(f"/codes/batches/{batch_id}/status.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [r["Status"] for r in rows] == ["active", "used up"]
    assert rows[0]["Activated by"] == "" and "Ann Lee" in rows[1]["Activated by"]


def test_whole_batch_rollback_previews_then_removes_everyone_once(app, client, gold, no_redis_jobs):
    batch_id, ids = _batch(app, gold.plan_id, count_=3, activate=[0, 1])
    preview = client.get(f"/codes/batches/{batch_id}/rollback", headers=HTMX)
    assert "Roll back all 3 codes" in text(preview)
    assert "2 customers will be removed from Gold Channel and Gold Chat" in text(preview)
    assert count(app, Removal) == 0
    response = client.post(f"/codes/batches/{batch_id}/rollback", headers=HTMX)
    assert "3 codes rolled back" in text(response)
    assert count(app, Removal) == 4 and len(no_redis_jobs) == 4
    assert all(fetch(app, AccessCode, i).deleted_at is not None for i in ids)


def test_rollback_confirmation_warns_which_removals_will_fail(app, client, gold):
    with app.app_context():
        db.session.get(Resource, gold.chat_id).can_restrict_members = False
        db.session.commit()
    code_id, _ = _code(app, gold.plan_id, users=1)
    body = text(client.get(f"/codes/{code_id}/rollback", headers=HTMX))
    assert "will fail unless you fix the bot" in body and "Gold Chat (1 customer)" in body


# -- Members ------------------------------------------------------------------------------------


def test_members_page_lists_who_has_access_with_their_code_and_chats(app, client, gold):
    code_id, people = _code(app, gold.plan_id, users=1)
    body = text(client.get(f"/members/?project={gold.project_id}"))
    assert "Ann Lee" in body and f"/codes/{code_id}" in body and f"/members/{people[0]}" in body
    assert "Gold Channel" in body and "not joined" in body


def test_members_search_finds_by_username_and_telegram_id(app, client, gold):
    _, people = _code(app, gold.plan_id, users=2)
    with app.app_context():
        first = db.session.get(Customer, people[0])
        username, tg_id = first.username, first.telegram_user_id
        other = db.session.get(Customer, people[1]).telegram_user_id
    by_name = text(client.get(f"/members/?project={gold.project_id}&q=@{username}", headers=HTMX))
    assert username in by_name and str(other) not in by_name
    by_id = text(client.get(f"/members/?project={gold.project_id}&q={tg_id}", headers=HTMX))
    assert str(tg_id) in by_id and str(other) not in by_id


def test_members_filter_ended_and_removal_failed(app, client, gold):
    code_id, people = _code(app, gold.plan_id, users=1)
    client.post(f"/members/{people[0]}/end")
    ended = text(client.get(f"/members/?project={gold.project_id}&state=ended", headers=HTMX))
    active = text(client.get(f"/members/?project={gold.project_id}&state=active", headers=HTMX))
    assert f"/members/{people[0]}" in ended and f"/members/{people[0]}" not in active
    with app.app_context():
        for removal in db.session.scalars(select(Removal)):
            removal.status, removal.last_error = "failed", "the bot lost its admin rights"
        db.session.commit()
    failed = text(client.get(f"/members/?project={gold.project_id}&state=removal_failed"))
    assert "removal failed" in failed


def test_extending_a_member_adds_one_period_of_the_plan(app, client, gold):
    _, people = _code(app, gold.plan_id, users=1)
    with app.app_context():
        before = db.session.scalars(select(Subscription)).one().ends_at
    url = f"/members/{people[0]}/extend"
    response = client.post(url, data={"plan": gold.plan_id}, headers=HTMX)
    assert "Extended by one period of 3 months" in text(response)
    with app.app_context():
        after = db.session.scalars(select(Subscription)).one().ends_at
        assert after - before > timedelta(days=85)
        assert db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "member.extended")
        ).one()


def test_ending_a_members_access_previews_then_removes_them(app, client, gold, no_redis_jobs):
    _, people = _code(app, gold.plan_id, users=1)
    preview = text(client.get(f"/members/{people[0]}/end", headers=HTMX))
    assert "will be removed from Gold Channel and Gold Chat" in preview
    assert count(app, Removal) == 0
    response = client.post(f"/members/{people[0]}/end", headers=HTMX)
    assert "Access ended" in text(response)
    assert count(app, Removal) == 2 and len(no_redis_jobs) == 2
    again = client.post(f"/members/{people[0]}/end", headers=HTMX)
    assert again.status_code == 409 and "no access to end" in text(again)


@pytest.mark.parametrize("bad", ["", "x", "999999"])
def test_extending_with_a_bad_plan_says_so_and_changes_nothing(app, client, gold, bad):
    _, people = _code(app, gold.plan_id, users=1)
    with app.app_context():
        before = db.session.scalars(select(Subscription)).one().ends_at
    response = client.post(f"/members/{people[0]}/extend", data={"plan": bad}, headers=HTMX)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Subscription)).one().ends_at == before


OTHER_OWNERS = [
    ("POST", "/codes/{code_id}/pause"),
    ("POST", "/codes/{code_id}/resume"),
    ("GET", "/codes/{code_id}/edit"),
    ("POST", "/codes/{code_id}/edit"),
    ("POST", "/codes/batches/{batch_id}/pause"),
    ("POST", "/codes/batches/{batch_id}/resume"),
    ("GET", "/codes/batches/{batch_id}/status.csv"),
    ("GET", "/codes/batches/{batch_id}/rollback"),
    ("POST", "/codes/batches/{batch_id}/rollback"),
    ("GET", "/members/?project={project_id}"),
    ("GET", "/members/{customer_id}"),
    ("POST", "/members/{customer_id}/extend"),
    ("GET", "/members/{customer_id}/end"),
    ("POST", "/members/{customer_id}/end"),
]


@pytest.mark.parametrize(("method", "url"), OTHER_OWNERS)
def test_another_owners_codes_batches_and_members_answer_404(
    app, client, gold, stranger, method, url
):
    with app.app_context():
        customer_id = db.session.scalars(
            select(Customer.id).where(Customer.project_id == stranger.project_id)
        ).first()
    ids = {**vars(stranger), "customer_id": customer_id}
    response = client.open(url.format(**ids), method=method, data={"plan": stranger.plan_id})
    assert response.status_code == 404
    with app.app_context():
        code = db.session.get(AccessCode, stranger.code_id)
        assert code.paused_at is None and code.deleted_at is None
    assert "Olaf" not in text(response)


@pytest.mark.parametrize(
    "url", ["/codes/1/pause", "/codes/batches/1/rollback", "/members/1/end", "/members/1/extend"]
)
def test_owner_control_needs_a_logged_in_owner(client, url):
    response = client.post(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- Several codes at once ----------------------------------------------------------------------


def test_the_list_says_how_many_codes_match_the_filter(app, client, gold):
    for _ in range(3):
        _code(app, gold.plan_id)
    paused, _ = _code(app, gold.plan_id)
    client.post(f"/codes/{paused}/pause")
    assert "4 codes match" in text(client.get("/codes/"))
    assert "1 code matches these filters" in text(client.get("/codes/?status=paused"))


def test_selected_codes_are_paused_after_a_confirmation_that_says_how_many(app, client, gold):
    ids = [_code(app, gold.plan_id)[0] for _ in range(3)]
    form = {"action": "pause", "ids": [str(ids[0]), str(ids[1])]}
    confirm = client.post("/codes/selection", data=form, headers=HTMX)
    assert "Pause 2 codes?" in text(confirm)
    assert all(fetch(app, AccessCode, i).paused_at is None for i in ids)
    done = client.post("/codes/selection/apply", data=form, headers=HTMX)
    assert "2 codes paused" in text(done)
    assert [fetch(app, AccessCode, i).paused_at is not None for i in ids] == [True, True, False]


def test_all_matching_the_filter_rolls_back_with_one_combined_preview(
    app, client, gold, no_redis_jobs
):
    ids = [_code(app, gold.plan_id, users=1)[0] for _ in range(2)]
    form = {"action": "rollback", "scope": "all", "project": str(gold.project_id)}
    confirm = text(client.post("/codes/selection", data=form, headers=HTMX))
    assert "Roll back 2 codes?" in confirm
    assert "2 customers will be removed from Gold Channel and Gold Chat" in confirm
    done = client.post("/codes/selection/apply", data=form, headers=HTMX)
    assert "2 codes rolled back" in text(done)
    assert all(fetch(app, AccessCode, i).deleted_at is not None for i in ids)
    assert len(no_redis_jobs) == 4


def test_selected_codes_export_as_csv_with_status(app, client, gold):
    ids = [_code(app, gold.plan_id, users=1)[0], _code(app, gold.plan_id)[0]]
    response = client.post(
        "/codes/selection/apply", data={"action": "export", "ids": [str(i) for i in ids]}
    )
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert sorted(r["Status"] for r in rows) == ["active", "active"]
    assert sorted(r["Activations"] for r in rows) == ["0", "1"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "pause"}, "Select at least one code"),
        ({"action": "explode", "ids": ["1"]}, "Choose what to do"),
        ({"action": "pause", "ids": ["x", "-1"]}, "Select at least one code"),
    ],
)
def test_a_bad_selection_says_why_and_changes_nothing(app, client, gold, form, message):
    code_id, _ = _code(app, gold.plan_id)
    response = client.post("/codes/selection", data=form, headers=HTMX)
    assert response.status_code == 400 and message in text(response)
    applied = client.post("/codes/selection/apply", data=form, headers=HTMX)
    assert applied.status_code == 400 and "nothing was changed" in text(applied)
    assert fetch(app, AccessCode, code_id).paused_at is None


def test_another_owners_codes_in_a_selection_are_left_alone(app, client, gold, stranger):
    form = {"action": "pause", "ids": [str(stranger.code_id)]}
    assert client.post("/codes/selection/apply", data=form, headers=HTMX).status_code == 400
    assert fetch(app, AccessCode, stranger.code_id).paused_at is None


def test_plan_form_marks_chats_where_the_bot_cannot_invite_or_ban(app, client, gold):
    with app.app_context():
        db.session.get(Resource, gold.chat_id).can_restrict_members = False
        db.session.commit()
    body = text(client.get(f"/projects/{gold.project_id}/plans/new"))
    assert "Gold Chat — ⚠ the bot cannot ban (removals will fail)" in body
    assert "Gold Channel — ⚠" not in body


def test_activity_lists_ends_removals_and_pauses_not_only_activations(app, client, gold):
    from webapp.domain import lifecycle

    code_id, people = _code(app, gold.plan_id, users=1)
    client.post(f"/codes/{code_id}/pause")
    with app.app_context():
        sub = db.session.scalars(select(Subscription)).one()
        later = sub.ends_at + timedelta(minutes=1)
        lifecycle.end_subscription(db.session, sub.id, later)
        removal = db.session.scalars(select(Removal)).first()
        assert lifecycle.claim_removal(db.session, removal.id, later)
        lifecycle.settle_removal(db.session, removal.id, later, lifecycle.Outcome.done(), later)
        db.session.commit()
    body = text(client.get("/activity"))
    for label in ("Activated", "Paused", "Access ended", "Removed"):
        assert label in body, label
    assert f"/members/{people[0]}" in body and f"/codes/{code_id}" in body


def test_code_page_refreshes_its_activations_and_removals_by_itself(app, client, gold):
    code_id, _ = _code(app, gold.plan_id)
    page = text(client.get(f"/codes/{code_id}"))
    assert f'hx-get="/codes/{code_id}/live"' in page and 'hx-trigger="every 10s"' in page
    with app.app_context():
        code = db.session.get(AccessCode, code_id)
        activate_code(db.session, code.project_id, code.code, tg_user(), NOW)
        db.session.commit()
    live = client.get(f"/codes/{code_id}/live", headers=HTMX)
    assert live.status_code == 200 and is_fragment(live) and "Ann Lee" in text(live)


def test_project_page_refreshes_its_chats_by_itself(app, client, gold):
    page = text(client.get(f"/projects/{gold.project_id}"))
    assert 'id="resource-list"' in page and 'hx-select="#resource-list"' in page


def test_code_page_has_a_ready_message_a_telegram_share_link_and_a_qr_png(app, client, gold):
    code_id, _ = _code(app, gold.plan_id)
    code = fetch(app, AccessCode, code_id)
    body = text(client.get(f"/codes/{code_id}"))
    link = f"https://t.me/GoldClubBot?start={code.code}"
    assert f"Your access to Gold Club, 3 months: tap {link}" in body
    assert "https://t.me/share/url?url=https%3A%2F%2Ft.me%2FGoldClubBot" in body
    png = client.get(f"/codes/{code_id}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG") and f"{code.code}-qr.png" in png.headers[
        "Content-Disposition"
    ]


def test_a_new_code_made_with_htmx_puts_its_own_page_in_the_address_bar(app, client, gold):
    form = {"step": "kind", "go": "create", "plan_id": str(gold.plan_id), "max_activations": "1",
            "expiry": "never", "kind": "single"}
    response = client.post("/codes/new", data=form, headers=HTMX)
    assert response.status_code == 200, text(response)
    with app.app_context():
        code_id = db.session.scalars(select(AccessCode.id)).one()
    assert response.headers["HX-Push-Url"] == f"/codes/{code_id}"


def test_the_wizard_preselects_a_projects_only_plan_and_plans_offer_a_new_code(
    app, client, logged_in_owner
):
    from tests.factories import make_plan, make_project
    from webapp.models import Owner

    with app.app_context():
        project = make_project(db.session.get(Owner, logged_in_owner.id))
        plan = make_plan(project, "Only plan")
        db.session.commit()
        plan_id = plan.id
    wizard = text(client.get("/codes/new"))
    assert f'name="plan_id" value="{plan_id}" checked' in wizard
    assert f"/codes/new?plan={plan_id}" in text(client.get("/plans"))


def test_the_owner_sets_a_contact_that_refusals_tell_customers(app, client, gold):
    from bot import texts
    from webapp.models import Project

    response = client.post(
        f"/projects/{gold.project_id}/edit", data={"name": "Gold Club", "contact": " @gold_help "}
    )
    assert response.status_code == 303
    assert fetch(app, Project, gold.project_id).contact == "@gold_help"
    refused = texts.with_contact(texts.code_used_up(), "@gold_help")
    assert refused.endswith("Contact the owner: @gold_help")
    too_long = client.post(
        f"/projects/{gold.project_id}/edit", data={"name": "Gold Club", "contact": "x" * 300}
    )
    assert too_long.status_code == 400 and "at most 255" in text(too_long)
    assert fetch(app, Project, gold.project_id).contact == "@gold_help"
