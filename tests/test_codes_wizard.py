"""The new-code wizard: one step at a time, back and forth without losing input, strict checks."""

import csv
import dataclasses
import io
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW
from tests.factories import make_code, make_plan, make_project, make_resource
from webapp.extensions import db
from webapp.models import AccessCode, AuditEvent, Batch, Owner, Plan

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def hidden(body: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', body))


def current_step(body: str) -> str:
    return hidden(body)["step"]


@pytest.fixture
def gold(app, logged_in_owner):
    with app.app_context():
        owner = db.session.get(Owner, logged_in_owner.id)
        project = make_project(owner, name="Gold Club", bot_username="GoldClubBot")
        plan = make_plan(project, "3 months", resources=[make_resource(project, "Gold Channel")])
        archived = make_plan(project, "Old plan", archived_at=NOW)
        db.session.commit()
        return SimpleNamespace(
            owner_id=owner.id, project_id=project.id, plan_id=plan.id, archived_id=archived.id
        )


def answers(gold, **overrides) -> dict:
    values = {
        "plan_id": str(gold.plan_id),
        "max_activations": "10",
        "expiry": "never",
        "expiry_date": "",
        "kind": "single",
        "count": "10",
        "custom_code": "",
        "note": "",
    }
    values.update(overrides)
    return values


def test_wizard_page_starts_with_the_plan(client, gold):
    response = client.get("/codes/new")
    body = text(response)
    assert response.status_code == 200 and "<html" in body
    assert current_step(body) == "plan"
    assert "3 months" in body and "Gold Channel" in body
    assert "Old plan" not in body  # archived plans are not offered
    fragment = client.get("/codes/new", headers=HTMX)
    assert "<html" not in text(fragment) and text(fragment).lstrip().startswith("<form")
    assert "HX-Request" in fragment.headers["Vary"]


def test_wizard_walks_forward_one_step_at_a_time_carrying_the_answers(client, gold):
    data = {"step": "plan", "go": "next", "plan_id": str(gold.plan_id)}
    body = text(client.post("/codes/new", data=data, headers=HTMX))
    assert current_step(body) == "activations" and "<html" not in body
    assert hidden(body)["plan_id"] == str(gold.plan_id)
    data = {**hidden(body), "go": "next", "max_activations": "25"}
    body = text(client.post("/codes/new", data=data, headers=HTMX))
    assert current_step(body) == "expiry"
    assert hidden(body)["max_activations"] == "25"
    assert "3 months" in body and "25 activations" in body  # the summary so far
    data = {**hidden(body), "go": "next", "expiry": "1w"}
    body = text(client.post("/codes/new", data=data, headers=HTMX))
    assert current_step(body) == "kind"
    assert hidden(body)["expiry"] == "1w"


LANDING = {  # a request that lands on each step
    "plan": {"step": "activations", "go": "back"},
    "activations": {"step": "expiry", "go": "back"},
    "expiry": {"step": "kind", "go": "back"},
    "kind": {"step": "expiry", "go": "next"},
}


def input_names(body: str) -> tuple[set[str], set[str]]:
    """(names of hidden inputs, names of visible inputs) in ``body``."""
    hidden_names, visible = set(), set()
    for tag in re.findall(r"<input\b[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        (hidden_names if 'type="hidden"' in tag else visible).add(name)
    return hidden_names - {"step", "csrf_token"}, visible


@pytest.mark.parametrize("step", list(LANDING))
def test_each_step_carries_the_other_answers_but_never_its_own_twice(client, gold, step):
    body = text(client.post("/codes/new", data={**LANDING[step], **answers(gold)}, headers=HTMX))
    assert current_step(body) == step
    carried, visible = input_names(body)
    assert visible and not carried & visible
    assert carried | visible == set(answers(gold))


def test_back_keeps_every_answer(client, gold):
    data = {"step": "kind", "go": "back", **answers(gold, expiry="3m", kind="bulk", count="42")}
    body = text(client.post("/codes/new", data=data, headers=HTMX))
    assert current_step(body) == "expiry"
    assert 'value="3m" checked' in body
    assert hidden(body)["count"] == "42" and hidden(body)["kind"] == "bulk"
    data = {**hidden(body), "expiry": "3m", "go": "back"}
    body = text(client.post("/codes/new", data=data, headers=HTMX))
    assert current_step(body) == "activations" and 'value="10"' in body
    data = {**hidden(body), "max_activations": "10", "go": "next"}
    body = text(client.post("/codes/new", data=data, headers=HTMX))
    assert current_step(body) == "expiry" and 'value="3m" checked' in body


def test_back_does_not_validate_the_step_being_left(client, gold):
    data = {"step": "activations", "go": "back", **answers(gold, max_activations="zero")}
    response = client.post("/codes/new", data=data, headers=HTMX)
    assert response.status_code == 200 and current_step(text(response)) == "plan"
    assert hidden(text(response))["max_activations"] == "zero"


def test_single_code_is_shown_with_its_link_a_copy_button_and_a_qr_code(app, client, gold):
    data = {"step": "kind", "go": "create", **answers(gold, note="Paid by bank transfer")}
    response = client.post("/codes/new", data=data, headers=HTMX)
    body = text(response)
    assert response.status_code == 200
    with app.app_context():
        code = db.session.scalars(select(AccessCode)).one()
        assert code.max_activations == 10 and code.expires_at is None
        assert code.note == "Paid by bank transfer" and code.batch_id is None
        assert code.created_by_owner_id == gold.owner_id
    assert code.code in body
    assert f"https://t.me/GoldClubBot?start={code.code}" in body
    assert "data-copy=" in body and "<svg" in body
    assert count(app, AuditEvent) == 1


def test_single_code_without_htmx_redirects_to_its_page(app, client, gold):
    data = {"step": "kind", "go": "create", **answers(gold, custom_code="SPRING-2027")}
    response = client.post("/codes/new", data=data)
    assert response.status_code == 303
    with app.app_context():
        code = db.session.scalars(select(AccessCode)).one()
    assert code.code == "SPRING-2027"
    assert response.headers["Location"].endswith(f"/codes/{code.id}")


def test_enter_on_the_last_step_creates(app, client, gold):
    data = {"step": "kind", "go": "next", **answers(gold)}
    assert client.post("/codes/new", data=data, headers=HTMX).status_code == 200
    assert count(app, AccessCode) == 1


def test_bulk_of_500_offers_its_csv_as_a_plain_download(app, client, gold):
    data = {"step": "kind", "go": "create", **answers(gold, kind="bulk", count="500")}
    response = client.post("/codes/new", data=data, headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and "500 codes created" in body
    with app.app_context():
        batch = db.session.scalars(select(Batch)).one()
        assert batch.size == 500
    link = f'href="/codes/batches/{batch.id}/csv"'
    assert link in body and 'hx-boost="false"' in body and "hx-get" not in body.split(link)[1][:40]
    assert "gold-club-3-months-500-codes.csv" in body
    assert count(app, AccessCode) == 500
    download = client.get(f"/codes/batches/{batch.id}/csv")
    rows = list(csv.DictReader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert len(rows) == 500 and len({r["Code"] for r in rows}) == 500


def test_bulk_without_htmx_redirects_to_the_batch(app, client, gold):
    data = {"step": "kind", "go": "create", **answers(gold, kind="bulk", count="3")}
    response = client.post("/codes/new", data=data)
    assert response.status_code == 303 and "/codes/batches/" in response.headers["Location"]


def test_preset_expiry_counts_from_the_moment_of_creation(app, client, gold):
    data = {"step": "kind", "go": "create", **answers(gold, expiry="1w")}
    before = NOW
    client.post("/codes/new", data=data, headers=HTMX)
    with app.app_context():
        code = db.session.scalars(select(AccessCode)).one()
    assert before + timedelta(weeks=1) <= code.expires_at <= NOW + timedelta(weeks=1)


def test_custom_expiry_date_is_read_in_the_owners_time_zone(app, client, gold):
    with app.app_context():
        db.session.get(Owner, gold.owner_id).timezone = "Europe/Berlin"
        db.session.commit()
    next_year = NOW.year + 1
    data = {
        "step": "kind",
        "go": "create",
        **answers(gold, expiry="custom", expiry_date=f"{next_year}-01-31T18:00"),
    }
    assert client.post("/codes/new", data=data, headers=HTMX).status_code == 200
    with app.app_context():
        code = db.session.scalars(select(AccessCode)).one()
    assert code.expires_at == datetime(next_year, 1, 31, 17, 0, tzinfo=UTC)  # CET is UTC+1
    body = text(client.get(f"/codes/{code.id}"))
    assert f"31 Jan {next_year}, 18:00" in body


def _past_local() -> str:
    return (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


INVALID = [
    # (overrides, step shown, field, message fragment, value kept)
    ({"kind": "bulk", "count": "501"}, "kind", "count", "between 1 and 500", 'value="501"'),
    ({"kind": "bulk", "count": "0"}, "kind", "count", "between 1 and 500", 'value="0"'),
    ({"kind": "bulk", "count": "lots"}, "kind", "count", "1 to 500", 'value="lots"'),
    ({"max_activations": "0"}, "activations", "max_activations", "between 1", 'value="0"'),
    ({"max_activations": "ten"}, "activations", "max_activations", "whole number", 'value="ten"'),
    ({"expiry": "custom", "expiry_date": "PAST"}, "expiry", "expiry_date", "future", "PAST"),
    ({"expiry": "custom", "expiry_date": ""}, "expiry", "expiry_date", "Pick the date", None),
    ({"expiry": "custom", "expiry_date": "31/01"}, "expiry", "expiry_date", "like", "31/01"),
    ({"expiry": "someday"}, "expiry", "expiry", "offered expiry", None),
    ({"custom_code": "MY CODE"}, "kind", "custom_code", "8 to 64", 'value="MY CODE"'),
    ({"custom_code": "ab"}, "kind", "custom_code", "8 to 64", 'value="ab"'),
    ({"custom_code": "TAKEN-CODE"}, "kind", "custom_code", "already has", "TAKEN-CODE"),
    ({"custom_code": "taken code"}, "kind", "custom_code", "8 to 64", "taken code"),
    ({"note": "x" * 300}, "kind", "note", "under 255", "x" * 300),
    ({"kind": "several"}, "kind", "kind", "single code or a bulk", None),
    ({"plan_id": ""}, "plan", "plan", "Choose a plan", None),
    ({"plan_id": "ARCHIVED"}, "plan", "plan", "archived", None),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize(("overrides", "step", "field", "message", "kept"), INVALID)
def test_wrong_answers_rerender_with_400_a_message_and_nothing_written(
    app, client, gold, overrides, step, field, message, kept, htmx
):
    with app.app_context():
        make_code(db.session.get(Plan, gold.plan_id), NOW, custom_code="TAKEN-CODE")
        db.session.commit()
    overrides = {
        k: _past_local() if v == "PAST" else str(gold.archived_id) if v == "ARCHIVED" else v
        for k, v in overrides.items()
    }
    if kept == "PAST":
        kept = overrides["expiry_date"]
    before = (count(app, AccessCode), count(app, Batch), count(app, AuditEvent))
    data = {"step": "kind", "go": "create", **answers(gold, **overrides)}
    response = client.post("/codes/new", data=data, headers=HTMX if htmx else {})
    body = text(response)
    assert response.status_code == 400
    assert ("<html" in body) is not htmx
    assert current_step(body) == step
    assert f'id="{field}-errors"' in body and message in body
    if kept:
        assert kept in body
    assert (count(app, AccessCode), count(app, Batch), count(app, AuditEvent)) == before


def test_a_custom_code_taken_at_the_same_moment_is_a_400_not_a_500(
    app, client, gold, monkeypatch
):
    """Two owners' tabs racing for one custom code: the unique constraint decides."""
    from webapp.domain import codes

    with app.app_context():
        make_code(db.session.get(Plan, gold.plan_id), NOW, custom_code="RACE-CODE")
        db.session.commit()
    check = codes.validate_code_request

    def check_without_seeing_the_other(session, project_id, req, now):
        return check(session, project_id, dataclasses.replace(req, custom_code="FREE-CODE"), now)

    monkeypatch.setattr(codes, "validate_code_request", check_without_seeing_the_other)
    data = {"step": "kind", "go": "create", **answers(gold, custom_code="race-code")}
    response = client.post("/codes/new", data=data, headers=HTMX)
    assert response.status_code == 400
    assert "already has" in text(response) and 'value="race-code"' in text(response)
    assert count(app, AccessCode) == 1


def test_each_step_checks_its_own_answer_before_moving_on(client, gold):
    data = {"step": "activations", "go": "next", **answers(gold, max_activations="-3")}
    response = client.post("/codes/new", data=data, headers=HTMX)
    assert response.status_code == 400 and current_step(text(response)) == "activations"
    assert 'aria-invalid="true"' in text(response)
    data = {"step": "plan", "go": "next", "plan_id": ""}
    response = client.post("/codes/new", data=data, headers=HTMX)
    assert response.status_code == 400 and "Choose a plan" in text(response)


def test_owner_without_plans_is_told_to_create_one(client, logged_in_owner):
    body = text(client.get("/codes/new"))
    assert "no active plan yet" in body and "disabled" in body


def test_wizard_starts_on_a_given_plan(client, gold):
    body = text(client.get(f"/codes/new?plan={gold.plan_id}"))
    assert f'value="{gold.plan_id}" checked' in body
