"""Changing the password on the account page: the current one is asked for, the new one twice."""

import pytest

from tests.dashboard_helpers import fetch, text
from tests.factories import PASSWORD
from webapp import create_app
from webapp.extensions import db
from webapp.models import Owner

NEW = "a much longer new secret"


def _change(client, current=PASSWORD, new=NEW, repeat=None):
    repeat = new if repeat is None else repeat
    return client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "repeat_password": repeat},
    )


def test_the_account_page_offers_to_change_the_password(client, logged_in_owner):
    page = text(client.get("/account"))
    assert "Current password" in page
    assert "Repeat the new password" in page
    assert "At least 10 characters." in page


def test_a_changed_password_opens_the_dashboard_and_the_old_one_no_longer_does(
    app, auth, client, logged_in_owner
):
    response = _change(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert "Your password is changed." in text(client.get("/account"))
    auth.logout()
    assert auth.login(logged_in_owner.email, PASSWORD).status_code == 400
    assert client.get("/").status_code == 302
    assert auth.login(logged_in_owner.email, NEW).status_code == 302
    assert client.get("/").status_code == 200
    owner = fetch(app, Owner, logged_in_owner.id)
    assert owner.password_hash.startswith("scrypt:")
    assert NEW not in owner.password_hash


@pytest.mark.parametrize(
    ("current", "new", "repeat", "field", "message"),
    [
        ("not my password", NEW, NEW, "current_password", "This is not your current password."),
        (PASSWORD, "short", "short", "new_password", "Use at least 10 characters."),
        (PASSWORD, NEW, NEW + "!", "repeat_password", "The two new passwords differ."),
        (PASSWORD, PASSWORD, PASSWORD, "new_password", "different from the current one"),
        ("", NEW, NEW, "current_password", "Enter your current password."),
        (PASSWORD, "", "", "new_password", "Enter the new password."),
        (PASSWORD, NEW, "", "repeat_password", "Enter the new password again."),
    ],
    ids=["wrong-current", "too-short", "not-repeated", "same-as-current", "no-current",
         "no-new", "no-repeat"],
)
def test_a_refused_password_change_says_why_on_that_field_and_changes_nothing(
    app, auth, client, logged_in_owner, current, new, repeat, field, message
):
    before = fetch(app, Owner, logged_in_owner.id).password_hash
    response = _change(client, current, new, repeat)
    assert response.status_code == 400
    body = text(response)
    assert message in body
    assert f'id="{field}-errors"' in body
    # Passwords are never written back into the page.
    assert NEW not in body and PASSWORD not in body
    # The time-zone form on the same page is still filled in.
    assert 'value="UTC" selected' in body or 'selected value="UTC"' in body
    assert fetch(app, Owner, logged_in_owner.id).password_hash == before
    auth.logout()
    assert auth.login(logged_in_owner.email, PASSWORD).status_code == 302


def test_changing_the_password_needs_to_be_logged_in(app, auth):
    owner = auth.create_owner("ann@example.com")
    before = fetch(app, Owner, owner.id).password_hash
    response = app.test_client().post(
        "/account/password",
        data={"current_password": owner.password, "new_password": NEW, "repeat_password": NEW},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert fetch(app, Owner, owner.id).password_hash == before


def test_a_password_change_without_the_csrf_token_is_refused(app_config, auth):
    app_config["WTF_CSRF_ENABLED"] = True
    app = create_app(app_config)
    try:
        client = app.test_client()
        from tests.factories import make_owner

        with app.app_context():
            owner_id = make_owner("ann@example.com").id
            db.session.commit()
        page = text(client.get("/login"))
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        client.post(
            "/login",
            data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token},
        )
        before = fetch(app, Owner, owner_id).password_hash
        response = _change(client)
        assert response.status_code == 400
        assert "CSRF" in text(response)
        assert fetch(app, Owner, owner_id).password_hash == before
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_changed_password_logs_out_every_other_session_but_this_one(
    app, auth, client, logged_in_owner
):
    other_device = app.test_client()
    assert other_device.post(
        "/login", data={"email": logged_in_owner.email, "password": PASSWORD}
    ).status_code == 302
    assert other_device.get("/").status_code == 200

    assert _change(client).status_code == 303

    assert client.get("/account").status_code == 200
    assert other_device.get("/").status_code == 302
