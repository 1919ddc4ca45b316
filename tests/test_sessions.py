"""Each log-in is its own session: it ends at log-out, when idle or too old, or from the account
page; log-in starts a fresh cookie session; forwarded addresses count only from trusted proxies."""

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import NOW
from tests.dashboard_helpers import count, data, text
from tests.factories import PASSWORD
from webapp import create_app
from webapp.domain import ratelimit
from webapp.extensions import db
from webapp.models import OwnerSession


def _copy_cookies(source, target):
    for cookie in source._cookies.values():
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain)


def _moved_clock(monkeypatch, moment):
    from webapp import auth as auth_views
    from webapp import dashboard

    monkeypatch.setattr(auth_views, "utcnow", lambda: moment)
    monkeypatch.setattr(dashboard, "utcnow", lambda: moment)


def test_a_copied_session_cookie_stops_working_at_logout(app, auth, client, logged_in_owner):
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert thief.get("/").status_code == 200
    auth.logout()
    assert thief.get("/").status_code == 302
    assert "/login" in thief.get("/").headers["Location"]


def test_every_log_in_is_its_own_session_with_its_own_secret(app, auth, client):
    owner = auth.create_owner("ann@example.com")
    other = app.test_client()
    assert auth.login(owner.email, owner.password).status_code == 302
    assert (
        other.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 302
    )
    assert count(app, OwnerSession) == 2
    with data(app) as session:
        hashes = session.scalars(select(OwnerSession.token_hash)).all()
    cookie = client.get_cookie("session").value
    assert all(h not in cookie for h in hashes)
    auth.logout()
    # Logging out here ends this log-in only.
    assert other.get("/").status_code == 200
    assert client.get("/").status_code == 302


def test_a_session_ends_after_the_idle_time(app_config, app, monkeypatch):
    app_config["SESSION_IDLE_MINUTES"] = 30
    app = create_app(dict(app_config))
    try:
        client = app.test_client()
        with app.app_context():
            from tests.factories import make_owner

            make_owner("ann@example.com")
            db.session.commit()
        client.post("/login", data={"email": "ann@example.com", "password": PASSWORD})
        _moved_clock(monkeypatch, NOW + timedelta(minutes=29))
        assert client.get("/").status_code == 200  # a request keeps the session alive
        _moved_clock(monkeypatch, NOW + timedelta(minutes=29 + 29))
        assert client.get("/").status_code == 200
        _moved_clock(monkeypatch, NOW + timedelta(minutes=29 + 29 + 31))
        assert client.get("/").status_code == 302
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_session_ends_after_its_maximum_age_even_when_in_use(app_config, app, monkeypatch):
    app_config["SESSION_IDLE_MINUTES"] = 60
    app_config["SESSION_MAX_DAYS"] = 1
    app = create_app(dict(app_config))
    try:
        client = app.test_client()
        with app.app_context():
            from tests.factories import make_owner

            make_owner("ann@example.com")
            db.session.commit()
        client.post("/login", data={"email": "ann@example.com", "password": PASSWORD})
        moment = NOW
        while moment < NOW + timedelta(hours=23):
            moment += timedelta(minutes=50)
            _moved_clock(monkeypatch, moment)
            assert client.get("/").status_code == 200
        _moved_clock(monkeypatch, NOW + timedelta(days=1, minutes=1))
        assert client.get("/").status_code == 302
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_account_page_lists_sessions_and_logs_out_everywhere_else(app, auth, client):
    owner = auth.create_owner("ann@example.com")
    phone = app.test_client()
    phone.post(
        "/login",
        data={"email": owner.email, "password": PASSWORD},
        headers={"User-Agent": "AnnPhone/1.0"},
    )
    auth.login(owner.email, owner.password)
    page = text(client.get("/account"))
    assert "AnnPhone/1.0" in page
    assert "this session" in page
    response = client.post("/account/sessions/others/end")
    assert response.status_code == 303
    assert "Logged out everywhere else (1 session)." in text(client.get("/account"))
    assert phone.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_one_session_can_be_ended_from_the_account_page_but_not_another_owners(app, auth, client):
    ann = auth.create_owner("ann@example.com")
    bob = auth.create_owner("bob@example.com")
    phone = app.test_client()
    phone.post("/login", data={"email": ann.email, "password": PASSWORD})
    bobs = app.test_client()
    bobs.post("/login", data={"email": bob.email, "password": PASSWORD})
    auth.login(ann.email, ann.password)
    with data(app) as session:
        bobs_session = session.scalar(
            select(OwnerSession.id).where(OwnerSession.owner_id == bob.id)
        )
        anns_phone = session.scalars(
            select(OwnerSession.id).where(OwnerSession.owner_id == ann.id).order_by(OwnerSession.id)
        ).first()
    assert client.post(f"/account/sessions/{bobs_session}/end").status_code == 404
    assert bobs.get("/").status_code == 200
    assert client.post(f"/account/sessions/{anns_phone}/end").status_code == 303
    assert phone.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(app, auth, client):
    owner = auth.create_owner("ann@example.com")
    other = app.test_client()
    other.post("/login", data={"email": owner.email, "password": PASSWORD})
    auth.login(owner.email, owner.password)
    new = "a much longer new secret"
    client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": new, "repeat_password": new},
    )
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302


def test_log_in_starts_a_fresh_session_so_a_planted_csrf_secret_is_dropped(app_config, app):
    app_config["WTF_CSRF_ENABLED"] = True
    app = create_app(dict(app_config))
    try:
        victim = app.test_client()
        with app.app_context():
            from tests.factories import make_owner

            make_owner("ann@example.com")
            db.session.commit()
        login_page = text(victim.get("/login"))
        planted = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        before = victim.get_cookie("session").value
        victim.post(
            "/login",
            data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": planted},
        )
        assert victim.get_cookie("session").value != before
        # The attacker knew the pre-log-in token; it opens nothing now.
        refused = victim.post("/telegram/link", headers={"X-CSRFToken": planted})
        assert refused.status_code == 400
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_fifty_wrong_passwords_from_rotating_addresses_do_not_lock_the_owner_out(app, auth):
    auth.create_owner("ann@example.com")
    owner = app.test_client()
    home = {"REMOTE_ADDR": "198.51.100.7"}
    assert (
        owner.post(
            "/login", data={"email": "ann@example.com", "password": PASSWORD}, environ_base=home
        ).status_code
        == 302
    )
    owner.post("/logout", environ_base=home)
    for n in range(ratelimit.MAX_FAILURES_PER_ACCOUNT + 5):
        app.test_client().post(
            "/login",
            data={"email": "ann@example.com", "password": "guess"},
            environ_base={"REMOTE_ADDR": f"203.0.{n // 4}.{n % 4 + 1}"},
        )
    # From home, and from a new network on the device that logged in before.
    assert (
        owner.post(
            "/login", data={"email": "ann@example.com", "password": PASSWORD}, environ_base=home
        ).status_code
        == 302
    )
    owner.post("/logout", environ_base=home)
    assert (
        owner.post(
            "/login",
            data={"email": "ann@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "192.0.2.50"},
        ).status_code
        == 302
    )


def test_forwarded_for_is_ignored_without_a_trusted_proxy(app, auth):
    auth.create_owner("ann@example.com")
    guesser = app.test_client()
    for n in range(ratelimit.MAX_FAILURES_PER_ACCOUNT_AND_IP):
        guesser.post(
            "/login",
            data={"email": "ann@example.com", "password": "guess"},
            headers={"X-Forwarded-For": f"10.9.9.{n}"},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )
    refused = guesser.post(
        "/login",
        data={"email": "ann@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "10.9.9.200"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert refused.status_code == 429


def test_behind_one_trusted_proxy_only_the_address_it_saw_counts(app_config, app):
    app_config["TRUSTED_PROXIES"] = 1
    app = create_app(dict(app_config))
    try:
        with app.app_context():
            from tests.factories import make_owner

            make_owner("ann@example.com")
            db.session.commit()
        guesser = app.test_client()
        proxy = {"REMOTE_ADDR": "10.0.0.1"}
        for n in range(ratelimit.MAX_FAILURES_PER_ACCOUNT_AND_IP):
            # The client prepends made-up addresses; the proxy appends the one it saw.
            guesser.post(
                "/login",
                data={"email": "ann@example.com", "password": "guess"},
                headers={"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.9"},
                environ_base=proxy,
            )
        refused = guesser.post(
            "/login",
            data={"email": "ann@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": "10.9.9.200, 203.0.113.9"},
            environ_base=proxy,
        )
        assert refused.status_code == 429
        owner = app.test_client().post(
            "/login",
            data={"email": "ann@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"},
            environ_base=proxy,
        )
        assert owner.status_code == 302
        assert owner.headers["Location"] in ("/", "https://localhost/")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_proxy_setting_defaults_to_heroku_s_one_router():
    from webapp.config import Config

    assert Config({}).TRUSTED_PROXIES == 0
    assert (
        Config(
            {
                "DYNO": "web.1",
                "SECRET_KEY": "k" * 8 + "0123456789abcdefghijklmnopqrstuv",
                "TOKEN_ENCRYPTION_KEYS": "x",
            }
        ).TRUSTED_PROXIES
        == 1
    )
    assert Config({"TRUSTED_PROXIES": "2"}).TRUSTED_PROXIES == 2
