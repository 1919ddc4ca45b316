"""Sign-up and the password-change form give guessers nothing for free: addresses are checked by
a maintained validator, sign-ups are throttled per address and do not confirm an account, and
wrong current passwords count like wrong log-in passwords."""

import pytest

from tests.dashboard_helpers import count, fetch, text
from tests.factories import PASSWORD
from webapp.domain import ratelimit
from webapp.domain.accounts import is_valid_email
from webapp.models import Owner


@pytest.mark.parametrize(
    "bad",
    [
        "olga.@example.com",
        "olga@example..com",
        ".olga@example.com",
        "olga@",
        "olga@-x.com",
        "ol ga@example.com",
        "olga@example",
        "a" * 250 + "@example.com",
    ],
)
def test_malformed_addresses_are_refused(app, auth, bad):
    assert not is_valid_email(bad)
    response = auth.signup(bad)
    assert response.status_code == 400
    assert 'id="email-errors"' in text(response)
    assert count(app, Owner) == 0


@pytest.mark.parametrize("good", ["olga@example.com", "olga.k+admit@mail.example.co.uk"])
def test_ordinary_addresses_are_taken(good):
    assert is_valid_email(good)


def test_sign_ups_from_one_address_are_throttled(app, auth):
    auth.create_owner("ann@example.com")
    # Probing which addresses have accounts, one well-formed sign-up at a time.
    for _ in range(ratelimit.MAX_SIGNUPS_PER_IP):
        assert auth.signup("ann@example.com").status_code == 400
    refused = auth.signup("real@example.com")
    assert refused.status_code == 429
    assert "Too many requests from your address" in text(refused)
    assert int(refused.headers["Retry-After"]) > 0
    assert count(app, Owner) == 1
    other = app.test_client().post(
        "/signup",
        data={"email": "real@example.com", "password": PASSWORD, "confirm": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.20"},
    )
    assert other.status_code == 302


def test_a_taken_address_is_refused_without_confirming_the_account(app, auth):
    auth.create_owner("ann@example.com")
    body = text(auth.signup("ann@example.com"))
    assert "already exists" not in body
    assert "cannot be used for a new account" in body


def test_guessing_the_current_password_on_the_account_page_is_throttled(
    app, auth, client, logged_in_owner
):
    new = "a much longer new secret"
    for _ in range(ratelimit.MAX_FAILURES_PER_ACCOUNT_AND_IP):
        response = client.post(
            "/account/password",
            data={"current_password": "guess guess", "new_password": new, "repeat_password": new},
        )
        assert response.status_code == 400
    before = fetch(app, Owner, logged_in_owner.id).password_hash
    blocked = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": new, "repeat_password": new},
    )
    assert blocked.status_code == 429
    assert "Too many wrong passwords" in text(blocked)
    assert fetch(app, Owner, logged_in_owner.id).password_hash == before


def test_sign_ups_refused_at_a_windows_end_stay_refused_for_a_whole_window(app):
    from datetime import UTC, datetime, timedelta

    from webapp.queues import get_redis

    window = timedelta(seconds=ratelimit.WINDOW_SECONDS)
    boundary = datetime(2026, 11, 26, 14, 15, tzinfo=UTC)  # 15-minute windows start here
    last_seconds = boundary - timedelta(seconds=5)
    with app.app_context():
        redis = get_redis()
        for _ in range(ratelimit.MAX_SIGNUPS_PER_IP):
            assert ratelimit.signup_blocked(redis, "203.0.113.9", last_seconds) is None
        refused = ratelimit.signup_blocked(redis, "203.0.113.9", last_seconds)
        assert refused == ratelimit.SignupBlocked(ratelimit.WINDOW_SECONDS)
        # The next window has begun, but the address is still refused, and nothing is counted.
        still = ratelimit.signup_blocked(redis, "203.0.113.9", boundary + timedelta(minutes=1))
        assert still == ratelimit.SignupBlocked(ratelimit.WINDOW_SECONDS - 65)
        assert ratelimit.signup_blocked(redis, "203.0.113.9", last_seconds + window) is None
        # Another address, and the same address's reset requests, were never touched.
        assert ratelimit.signup_blocked(redis, "203.0.113.10", last_seconds) is None
        assert ratelimit.signup_blocked(redis, "203.0.113.9", last_seconds, kind="reset") is None
