"""Security headers: a CSP allowing exactly the pinned htmx and our files, no framing, no
sniffing, a strict referrer policy, HSTS in production, and no caching of logged-in pages."""

import re
from pathlib import Path

from tests.conftest import ROOT
from webapp import create_app
from webapp.extensions import db
from webapp.security_headers import HTMX_INTEGRITY, HTMX_SRC


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }


def test_every_page_forbids_framing_sniffing_and_foreign_scripts(client):
    response = client.get("/login")
    csp = _csp(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", HTMX_SRC, f"'{HTMX_INTEGRITY}'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # not over plain development HTTP


def test_the_page_loads_htmx_from_exactly_the_url_and_hash_the_csp_names(client):
    page = client.get("/login").get_data(as_text=True)
    assert f'<script src="{HTMX_SRC}" integrity="{HTMX_INTEGRITY}"' in page


def test_templates_carry_no_inline_scripts_styles_or_handlers():
    offenders = []
    for path in sorted(Path(ROOT, "templates").rglob("*.html")):
        html = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)",
            r"<style",
            r"\sstyle=",
            r"\son[a-z]+=",
            "javascript:",
        ):
            if re.search(pattern, html):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


def test_logged_in_pages_are_never_cached_and_public_ones_may_be(client, logged_in_owner):
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/account").headers["Cache-Control"] == "no-store"
    assert client.get("/static/admit.css").headers.get("Cache-Control") != "no-store"


def test_logged_out_pages_are_not_marked_no_store(client):
    assert client.get("/login").headers.get("Cache-Control") != "no-store"


def test_production_sends_hsts(app_config, app, monkeypatch):
    monkeypatch.setenv("ADMIT_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "3f9a1c0e7b5d4a2f8e6c1b9d0a7f5e3c2b4d6f8a")
    production = create_app({**app_config, "ADMIT_ENV": "production"})
    try:
        response = production.test_client().get("/login", base_url="https://admit.test")
        assert response.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains"
        )
    finally:
        with production.app_context():
            db.session.remove()
            db.engine.dispose()
