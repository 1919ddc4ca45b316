"""The access-code pages: list, detail, batches with their CSV, rollback, and who may see what."""

import csv
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from tests.conftest import NOW
from tests.factories import make_code, make_owner, make_plan, make_project, make_resource, tg_user
from webapp import jobs
from webapp.domain.activation import activate_code
from webapp.domain.codes import CodeRequest, create_codes
from webapp.extensions import db
from webapp.models import (
    AccessCode,
    Activation,
    Customer,
    Owner,
    Plan,
    Removal,
    Subscription,
)

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def is_fragment(response) -> bool:
    return "<html" not in text(response)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def gold(app, logged_in_owner):
    """The logged-in owner's project with two resources, a plan and a second plan."""
    with app.app_context():
        owner = db.session.get(Owner, logged_in_owner.id)
        project = make_project(owner, name="Gold Club", bot_username="GoldClubBot")
        channel = make_resource(project, "Gold Channel")
        chat = make_resource(project, "Gold Chat", chat_type="supergroup")
        plan = make_plan(project, "3 months", resources=[channel, chat])
        yearly = make_plan(project, "1 year", unit="month", count=12, resources=[channel])
        db.session.commit()
        return SimpleNamespace(
            owner_id=owner.id,
            project_id=project.id,
            plan_id=plan.id,
            yearly_id=yearly.id,
            channel_id=channel.id,
            chat_id=chat.id,
        )


@pytest.fixture
def stranger(app):
    """Another owner's project, plan, single code and batch."""
    with app.app_context():
        owner = make_owner("stranger@example.com")
        project = make_project(owner, name="Other Club")
        plan = make_plan(project, "Other plan")
        code = make_code(plan, NOW)
        resource = make_resource(project, "Other Channel")
        customer = Customer(project_id=project.id, telegram_user_id=6601, first_name="Olaf")
        db.session.add(customer)
        db.session.flush()
        removal = Removal(
            project_id=project.id,
            customer_id=customer.id,
            resource_id=resource.id,
            code_id=code.id,
            reason="rolled_back",
            status="failed",
            last_error="Bad Request: not enough rights",
        )
        db.session.add(removal)
        batch, _ = create_codes(
            db.session,
            project.id,
            CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=2),
            owner_id=owner.id,
            now=NOW,
        )
        db.session.commit()
        return SimpleNamespace(
            project_id=project.id,
            plan_id=plan.id,
            code_id=code.id,
            batch_id=batch.id,
            removal_id=removal.id,
        )


def _code(app, plan_id, **kw):
    with app.app_context():
        plan = db.session.get(Plan, plan_id)
        code = make_code(plan, kw.pop("now", NOW), **kw)
        db.session.commit()
        return code.id, code.code


def _activate(app, project_id, code_text, user_id, **names):
    with app.app_context():
        result = activate_code(
            db.session, project_id, code_text, tg_user(user_id, **names), NOW
        )
        db.session.commit()
        return result.subscription.id


# -- List -------------------------------------------------------------------------------------


def test_code_list_shows_plan_usage_expiry_and_status(app, client, gold):
    code_id, code_text = _code(app, gold.plan_id, max_activations=10)
    _activate(app, gold.project_id, code_text, 5001)
    _activate(app, gold.project_id, code_text, 5002)
    _activate(app, gold.project_id, code_text, 5003)
    response = client.get("/codes/")
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body and code_text in body
    assert "3/10" in body and "3 months" in body and "never" in body
    assert ">active<" in body
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_code_list_answers_htmx_with_the_results_fragment(client, app, gold):
    _, code_text = _code(app, gold.plan_id)
    response = client.get("/codes/", headers=HTMX)
    assert response.status_code == 200 and is_fragment(response)
    assert text(response).lstrip().startswith('<div id="code-results"')
    assert code_text in text(response)
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_the_whole_page(client, gold):
    response = client.get("/codes/", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in text(response)


def test_code_list_filters_by_status_plan_and_search(app, client, gold):
    past = NOW - timedelta(days=3)
    expired_id, expired = _code(app, gold.plan_id, now=past, expires_at=past + timedelta(days=1))
    _, used = _code(app, gold.plan_id, max_activations=1)
    _activate(app, gold.project_id, used, 6001)
    _, active = _code(app, gold.yearly_id, custom_code="SPRING-PROMO")

    def listed(**args):
        body = text(client.get("/codes/", query_string=args, headers=HTMX))
        return {c for c in (expired, used, active) if c in body}

    assert listed() == {expired, used, active}
    assert listed(status="expired") == {expired}
    assert listed(status="used_up") == {used}
    assert listed(status="active") == {active}
    assert listed(plan=gold.yearly_id) == {active}
    assert listed(q="spring-pro") == {active}
    assert listed(q="spring", status="expired") == set()
    assert listed(status="nonsense") == {expired, used, active}  # unknown status: no filter
    assert "No codes match" in text(client.get("/codes/?q=zzzz", headers=HTMX))


def test_code_list_pages_with_older_and_newer_links(app, client, gold):
    app.config["CODES_PAGE_SIZE"] = 3
    start = NOW - timedelta(hours=1)
    made = [_code(app, gold.plan_id, now=start + timedelta(minutes=i))[1] for i in range(7)]
    first = text(client.get("/codes/", headers=HTMX))
    assert [c for c in reversed(made) if c in first] == list(reversed(made))[:3]
    assert "Older" in first and "Newer" not in first
    older_url = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = text(client.get(older_url, headers=HTMX))
    assert [c for c in reversed(made) if c in second] == list(reversed(made))[3:6]
    assert "Newer" in second and "Older" in second
    newer_url = second.split('rel="prev" href="')[1].split('"')[0].replace("&amp;", "&")
    assert [c for c in reversed(made) if c in text(client.get(newer_url))] == list(reversed(made))[
        :3
    ]


def test_statuses_follow_the_clock_the_jobs_use(app, auth, client, gold):
    from webapp.clock import set_fake_now
    from webapp.queues import get_redis

    _, code_text = _code(app, gold.plan_id, expires_at=NOW + timedelta(days=1))
    assert ">active<" in text(client.get("/codes/?status=active", headers=HTMX))
    with app.app_context():
        set_fake_now(get_redis(), NOW + timedelta(days=2))
    # Two idle days end the log-in (SESSION_IDLE_MINUTES): log in again on the moved clock.
    assert client.get("/codes/", headers=HTMX).status_code == 401
    auth.login("owner@example.com")
    body = text(client.get("/codes/?status=expired", headers=HTMX))
    assert code_text in body and ">expired<" in body
    assert code_text not in text(client.get("/codes/?status=active", headers=HTMX))


def test_code_list_keeps_filters_in_page_links(app, client, gold):
    app.config["CODES_PAGE_SIZE"] = 1
    _code(app, gold.plan_id)
    _code(app, gold.plan_id)
    body = text(client.get(f"/codes/?status=active&plan={gold.plan_id}&q=", headers=HTMX))
    link = body.split('rel="next" href="')[1].split('"')[0]
    assert "status=active" in link and f"plan={gold.plan_id}" in link and "after=" in link


def test_empty_code_list_says_what_to_do_next(client, gold):
    body = text(client.get("/codes/"))
    assert "No codes yet" in body and "Make your first code" in body


def test_owner_without_projects_is_told_to_create_one(client, logged_in_owner):
    assert "No project yet" in text(client.get("/codes/"))


# -- Detail -----------------------------------------------------------------------------------


def test_code_detail_shows_link_qr_activations_and_history(app, client, gold):
    code_id, code_text = _code(app, gold.plan_id, max_activations=3)
    _activate(app, gold.project_id, code_text, 7001, first_name="Ann", username="ann")
    response = client.get(f"/codes/{code_id}")
    body = text(response)
    assert response.status_code == 200 and "<html" in body
    assert f"https://t.me/GoldClubBot?start={code_text}" in body
    assert "<svg" in body and 'class="qr"' in body
    assert "Ann Lee" in body and "@ann" in body and "7001" in body
    assert "1/3" in body and "Created" in body and "Activated" in body
    fragment = client.get(f"/codes/{code_id}", headers=HTMX)
    assert is_fragment(fragment) and text(fragment).lstrip().startswith('<div id="code-detail"')
    assert "HX-Request" in fragment.headers["Vary"]


def test_code_detail_shows_each_subscription_state(app, client, gold):
    code_id, code_text = _code(app, gold.plan_id, max_activations=5)
    subs = {
        name: _activate(app, gold.project_id, code_text, uid, username=name)
        for name, uid in [("reminded", 8001), ("ended", 8002), ("pending", 8003), ("failed", 8004)]
    }
    _activate(app, gold.project_id, code_text, 8005, username="fresh")
    now = NOW
    with app.app_context():
        reminded = db.session.get(Subscription, subs["reminded"])
        reminded.reminder_sent_at = now
        reminded.reminded_for_ends_at = reminded.ends_at
        ended = db.session.get(Subscription, subs["ended"])
        ended.ended_at, ended.end_reason = now, "expired"
        for name, status in (("pending", "pending"), ("failed", "failed")):
            sub = db.session.get(Subscription, subs[name])
            sub.ended_at, sub.end_reason = now, "expired"
            db.session.add(
                Removal(
                    project_id=gold.project_id,
                    customer_id=sub.customer_id,
                    resource_id=gold.channel_id,
                    subscription_id=sub.id,
                    reason="expired",
                    status=status,
                    last_error="Bad Request: not enough rights" if status == "failed" else None,
                )
            )
        db.session.commit()
    body = text(client.get(f"/codes/{code_id}"))
    for label in ("reminder sent", "access ended", "removal pending", "removal failed", "active"):
        assert f">{label}<" in body, label
    assert "not enough rights" in body


def test_batch_code_history_includes_the_batch_creation(app, client, gold):
    with app.app_context():
        _, codes = create_codes(
            db.session,
            gold.project_id,
            CodeRequest(plan_id=gold.plan_id, max_activations=1, expires_at=None, count=3),
            owner_id=gold.owner_id,
            now=NOW,
        )
        db.session.commit()
        code_id = codes[0].id
    body = text(client.get(f"/codes/{code_id}"))
    assert "Created in a bulk generation" in body and "3 codes of 3 months" in body


def test_names_and_notes_are_escaped_everywhere(app, client, gold):
    evil = '<script>alert("x")</script>'
    with app.app_context():
        plan = db.session.get(Plan, gold.plan_id)
        plan.name = evil
        _, codes = create_codes(
            db.session,
            gold.project_id,
            CodeRequest(plan_id=plan.id, max_activations=2, expires_at=None, note=evil),
            owner_id=gold.owner_id,
            now=NOW,
        )
        db.session.commit()
        code_id, code_text = codes[0].id, codes[0].code
    _activate(app, gold.project_id, code_text, 9001, first_name=evil, username="x<b>")
    for url in ("/codes/", f"/codes/{code_id}", f"/codes/{code_id}/rollback", "/codes/new"):
        body = text(client.get(url))
        assert "<script>alert" not in body and "x<b>" not in body, url
    assert "&lt;script&gt;" in text(client.get(f"/codes/{code_id}"))


# -- Batches ----------------------------------------------------------------------------------


def _batch(app, gold, count=5, **kw):
    with app.app_context():
        batch, codes = create_codes(
            db.session,
            gold.project_id,
            CodeRequest(plan_id=gold.plan_id, max_activations=2, count=count, **kw),
            owner_id=gold.owner_id,
            now=NOW,
        )
        db.session.commit()
        return batch.id, [c.code for c in codes]


def test_batches_page_lists_bulk_generations_with_their_csv(app, client, gold):
    batch_id, _ = _batch(app, gold, expires_at=None)
    page = client.get("/codes/batches")
    assert page.status_code == 200 and "<html" in text(page)
    assert f"/codes/batches/{batch_id}/csv" in text(page)
    fragment = client.get("/codes/batches", headers=HTMX)
    assert is_fragment(fragment) and f"/codes/batches/{batch_id}" in text(fragment)
    assert "No bulk generations yet" not in text(page)


def test_empty_batches_page_says_how_to_make_one(client, gold):
    assert "No bulk generations yet" in text(client.get("/codes/batches"))


def test_batch_page_and_its_codes_in_the_list(app, client, gold):
    batch_id, texts = _batch(app, gold, count=3, expires_at=None)
    _code(app, gold.plan_id, custom_code="NOT-IN-BATCH")
    page = client.get(f"/codes/batches/{batch_id}")
    assert page.status_code == 200 and "3 months" in text(page)
    assert is_fragment(client.get(f"/codes/batches/{batch_id}", headers=HTMX))
    listed = text(client.get(f"/codes/?batch={batch_id}"))
    assert all(t in listed for t in texts) and "NOT-IN-BATCH" not in listed


def test_batch_csv_downloads_again_with_every_live_code(app, client, gold):
    expires = NOW + timedelta(days=30)
    batch_id, texts = _batch(app, gold, count=4, expires_at=expires)
    response = client.get(f"/codes/batches/{batch_id}/csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "gold-club-3-months-4-codes.csv" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [r["Code"] for r in rows] == texts
    assert rows[0]["Activation link"] == f"https://t.me/GoldClubBot?start={texts[0]}"
    assert {r["Max activations"] for r in rows} == {"2"}


# -- Rollback ---------------------------------------------------------------------------------


@pytest.fixture
def rollback_case(app, gold):
    """A code activated by two customers; the second also holds the yearly plan (channel only)."""
    code_id, code_text = _code(app, gold.plan_id, max_activations=5)
    _activate(app, gold.project_id, code_text, 9101, username="ann")
    _activate(app, gold.project_id, code_text, 9102, username="bob")
    _, yearly_code = _code(app, gold.yearly_id)
    _activate(app, gold.project_id, yearly_code, 9102, username="bob")
    return SimpleNamespace(code_id=code_id, code=code_text)


def test_rollback_confirmation_says_who_is_removed_from_where(client, rollback_case):
    response = client.get(f"/codes/{rollback_case.code_id}/rollback", headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and is_fragment(response)
    assert "2 customers will be removed from Gold Channel and Gold Chat; 1 keep" in body
    assert "Gold Chat: 2 customers removed" in body
    assert "Gold Channel: 1 customer removed" in body
    assert 'hx-post="/codes/' in body
    page = client.get(f"/codes/{rollback_case.code_id}/rollback")
    assert "<html" in text(page) and "Gold Chat: 2 customers removed" in text(page)


def test_confirmed_rollback_updates_the_page_and_enqueues_the_removals(
    app, client, rollback_case, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(jobs, "enqueue_removals", enqueued.append, raising=False)
    response = client.post(f"/codes/{rollback_case.code_id}/rollback", headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and is_fragment(response)
    assert body.lstrip().startswith('<div id="code-detail"')
    assert "was rolled back" in body and ">rolled back<" in body
    assert "Roll back…" not in body
    removals = count(app, Removal, Removal.reason == "rolled_back", Removal.status == "pending")
    assert removals == 3  # ann: channel + chat; bob: chat only (the yearly plan keeps the channel)
    with app.app_context():
        written = db.session.scalars(
            select(Removal.id).where(Removal.code_id == rollback_case.code_id).order_by(Removal.id)
        ).all()
    assert enqueued == [written]  # exactly the rows this rollback wrote, once
    assert count(app, Activation, Activation.code_id == rollback_case.code_id) == 0


def _redis_down(monkeypatch):
    def unreachable():
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(jobs, "get_queue", unreachable)


def test_rollback_without_htmx_redirects_to_the_code(app, client, rollback_case, monkeypatch):
    _redis_down(monkeypatch)
    response = client.post(f"/codes/{rollback_case.code_id}/rollback")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/codes/{rollback_case.code_id}")
    # Without the job queue the removals wait, pending, for the lifecycle sweep.
    assert count(app, Removal, Removal.status == "pending") == 3
    detail = text(client.get(f"/codes/{rollback_case.code_id}"))
    assert ">rolled back<" in detail and "Rolled back" in detail


def test_a_redis_outage_does_not_undo_a_committed_rollback(
    app, client, rollback_case, monkeypatch, caplog
):
    _redis_down(monkeypatch)
    response = client.post(f"/codes/{rollback_case.code_id}/rollback", headers=HTMX)
    assert response.status_code == 200
    assert "was rolled back" in text(response) and text(response).count(">pending<") == 3
    with app.app_context():
        assert db.session.get(AccessCode, rollback_case.code_id).deleted_at is not None
    assert "the sweep will find them" in caplog.text


def test_rolling_back_twice_is_a_404(client, rollback_case, monkeypatch):
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: None, raising=False)
    assert client.post(f"/codes/{rollback_case.code_id}/rollback").status_code == 303
    assert client.post(f"/codes/{rollback_case.code_id}/rollback").status_code == 404
    assert client.get(f"/codes/{rollback_case.code_id}/rollback").status_code == 404


def test_rollback_of_an_unused_code_removes_nobody(app, client, gold, monkeypatch):
    code_id, _ = _code(app, gold.plan_id)
    body = text(client.get(f"/codes/{code_id}/rollback", headers=HTMX))
    assert "Nobody will be removed from any channel or group." in body
    enqueued = []
    monkeypatch.setattr(jobs, "enqueue_removals", enqueued.extend)
    assert client.post(f"/codes/{code_id}/rollback", headers=HTMX).status_code == 200
    assert enqueued == []


def _rolled_back(app, client, rollback_case, monkeypatch) -> dict[tuple[str, str], int]:
    """Roll the case's code back; its removals' ids by (username, resource title)."""
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: None)
    assert client.post(f"/codes/{rollback_case.code_id}/rollback").status_code == 303
    with app.app_context():
        removals = db.session.scalars(select(Removal).order_by(Removal.id)).all()
        return {(r.customer.username, r.resource.title): r.id for r in removals}


def test_a_rolled_back_code_lists_every_removal_it_queued(
    app, client, rollback_case, monkeypatch
):
    ids = _rolled_back(app, client, rollback_case, monkeypatch)
    assert set(ids) == {("ann", "Gold Channel"), ("ann", "Gold Chat"), ("bob", "Gold Chat")}
    with app.app_context():
        for removal_id in ids.values():
            assert db.session.get(Removal, removal_id).code_id == rollback_case.code_id
        states = {
            ("ann", "Gold Channel"): ("done", None),
            ("ann", "Gold Chat"): ("failed", "Bad Request: not enough rights to restrict"),
            ("bob", "Gold Chat"): ("skipped", "not a member any more"),
        }
        for key, (status, error) in states.items():
            removal = db.session.get(Removal, ids[key])
            removal.status, removal.last_error = status, error
            removal.done_at = NOW if status == "done" else None
        db.session.commit()
    body = text(client.get(f"/codes/{rollback_case.code_id}"))
    assert "The activations were deleted by the rollback." in body
    assert "<h2 class=\"section\">Removals</h2>" in body
    rows = {key: body.split(f'id="removal-{rid}"')[1].split("</tr>")[0] for key, rid in ids.items()}
    assert "@ann" in rows["ann", "Gold Channel"] and "Gold Channel" in rows["ann", "Gold Channel"]
    assert ">done<" in rows["ann", "Gold Channel"] and "removed " in rows["ann", "Gold Channel"]
    assert ">failed<" in rows["ann", "Gold Chat"]
    assert "not enough rights to restrict" in rows["ann", "Gold Chat"]
    assert ">skipped<" in rows["bob", "Gold Chat"] and "not a member" in rows["bob", "Gold Chat"]
    assert [key for key, row in rows.items() if "Retry" in row] == [("ann", "Gold Chat")]
    assert 'name="csrf_token"' in rows["ann", "Gold Chat"]
    assert 'hx-post="/codes/' in rows["ann", "Gold Chat"]


def test_pending_removals_show_on_the_page_right_after_the_rollback(
    app, client, rollback_case, monkeypatch
):
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: None)
    response = client.post(f"/codes/{rollback_case.code_id}/rollback", headers=HTMX)
    body = text(response)
    assert body.count(">pending<") == 3
    assert "Retry" not in body


def test_retrying_a_failed_removal_puts_it_back_in_the_queue(
    app, client, rollback_case, monkeypatch
):
    ids = _rolled_back(app, client, rollback_case, monkeypatch)
    removal_id = ids["ann", "Gold Chat"]
    with app.app_context():
        removal = db.session.get(Removal, removal_id)
        removal.status, removal.attempts = "failed", 5
        removal.last_error, removal.next_attempt_at = "Bad Request: not enough rights", None
        db.session.commit()
    enqueued = []
    monkeypatch.setattr(jobs, "enqueue_removals", enqueued.append)
    url = f"/codes/{rollback_case.code_id}/removals/{removal_id}/retry"
    response = client.post(url, headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and is_fragment(response)
    assert body.lstrip().startswith(f'<tr id="removal-{removal_id}"')
    assert ">pending<" in body and "Trying again." in body and "Retry" not in body
    assert enqueued == [[removal_id]]
    with app.app_context():
        removal = db.session.get(Removal, removal_id)
        assert (removal.status, removal.attempts) == ("pending", 0)
        assert removal.next_attempt_at is not None

    # Pressed twice (or in two tabs): the second press changes nothing and queues nothing.
    again = client.post(url, headers=HTMX)
    assert again.status_code == 200
    assert "Not failed any more: nothing to retry." in text(again)
    assert enqueued == [[removal_id]]

    # Without htmx the form goes back to the code's page.
    plain = client.post(url)
    assert plain.status_code == 303 and plain.headers["Location"].endswith(
        f"/codes/{rollback_case.code_id}"
    )


def test_only_the_rollbacks_own_removals_can_be_retried_from_its_page(
    app, client, gold, rollback_case, monkeypatch
):
    ids = _rolled_back(app, client, rollback_case, monkeypatch)
    other_code, _ = _code(app, gold.plan_id)
    unknown = f"/codes/{rollback_case.code_id}/removals/999999/retry"
    assert client.post(unknown, headers=HTMX).status_code == 404
    wrong = f"/codes/{other_code}/removals/{ids['ann', 'Gold Chat']}/retry"
    assert client.post(wrong, headers=HTMX).status_code == 404


# -- Who may see what -------------------------------------------------------------------------

OTHER_OWNERS_THINGS = [
    ("GET", "/codes/?project={project_id}", None),
    ("GET", "/codes/?plan={plan_id}", None),
    ("GET", "/codes/?batch={batch_id}", None),
    ("GET", "/codes/new?plan={plan_id}", None),
    ("POST", "/codes/new", {"step": "plan", "go": "next", "plan_id": "{plan_id}"}),
    ("POST", "/codes/new", {"step": "activations", "go": "back", "plan_id": "{plan_id}"}),
    (
        "POST",
        "/codes/new",
        {"step": "kind", "go": "create", "plan_id": "{plan_id}", "max_activations": "1"},
    ),
    ("GET", "/codes/{code_id}", None),
    ("GET", "/codes/{code_id}/rollback", None),
    ("POST", "/codes/{code_id}/rollback", None),
    ("GET", "/codes/batches/{batch_id}", None),
    ("GET", "/codes/batches/{batch_id}/csv", None),
    ("POST", "/codes/{code_id}/removals/{removal_id}/retry", None),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("method", "url", "form"), OTHER_OWNERS_THINGS)
def test_another_owners_ids_answer_404(
    app, client, gold, stranger, method, url, form, htmx, monkeypatch
):
    ids = vars(stranger)
    url = url.format(**ids)
    data = {k: v.format(**ids) for k, v in (form or {}).items()}
    before = (count(app, AccessCode), count(app, Removal))
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: pytest.fail("enqueued"))
    response = client.open(url, method=method, data=data, headers=HTMX if htmx else {})
    assert response.status_code == 404
    assert (count(app, AccessCode), count(app, Removal)) == before
    with app.app_context():
        assert db.session.get(AccessCode, stranger.code_id).deleted_at is None
        assert db.session.get(Removal, stranger.removal_id).status == "failed"
    assert "Olaf" not in text(response)


def test_a_removal_of_another_owners_code_cannot_be_retried_under_ones_own(
    app, client, gold, stranger, monkeypatch
):
    code_id, _ = _code(app, gold.plan_id)
    monkeypatch.setattr(jobs, "enqueue_removals", lambda ids: pytest.fail("enqueued"))
    url = f"/codes/{code_id}/removals/{stranger.removal_id}/retry"
    assert client.post(url, headers=HTMX).status_code == 404
    with app.app_context():
        assert db.session.get(Removal, stranger.removal_id).status == "failed"


@pytest.mark.parametrize(
    "url", ["/codes/999999", "/codes/999999/rollback", "/codes/batches/999999", "/codes/?plan=9999"]
)
def test_unknown_ids_answer_404(client, gold, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/codes/"),
        ("GET", "/codes/new"),
        ("POST", "/codes/new"),
        ("GET", "/codes/1"),
        ("GET", "/codes/1/rollback"),
        ("POST", "/codes/1/rollback"),
        ("GET", "/codes/batches"),
        ("GET", "/codes/batches/1"),
        ("GET", "/codes/batches/1/csv"),
        ("POST", "/codes/1/removals/1/retry"),
    ],
)
def test_every_code_page_needs_a_logged_in_owner(client, method, url):
    response = client.open(url, method=method)
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
