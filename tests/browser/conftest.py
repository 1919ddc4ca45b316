"""A real server and headless Debian Chromium driven by Playwright, for the dashboard's flows.

The tests skip (with the reason) when Chromium or the local htmx copy is missing; nothing else
makes them skip. The CDN is unreachable here, so the page gets htmx from the npm copy through a
route on the CDN URL, and a test checks that the integrity hash in base.html matches that file.
"""

import base64
import hashlib
import re
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
HTMX_COPY = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def base_template_htmx() -> tuple[str, str]:
    """The htmx ``src`` and ``integrity`` that templates/base.html loads (and the CSP allows)."""
    from webapp.security_headers import HTMX_INTEGRITY, HTMX_SRC

    html = (ROOT / "templates" / "base.html").read_text()
    assert re.search(r'<script src="{{ htmx_src }}" integrity="{{ htmx_integrity }}"', html)
    return HTMX_SRC, HTMX_INTEGRITY


def sri_sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if not HTMX_COPY.exists():
        return (
            f"no local htmx copy at {HTMX_COPY.relative_to(ROOT)} "
            "(make test installs it: npm install --no-save htmx.org@2.0.11)"
        )
    return None


@pytest.fixture(scope="session")
def playwright_browser():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(request, app_config, emulator):
    """The app served by werkzeug on 127.0.0.1 in a thread, CSRF on, Telegram = the emulator."""
    app_config["WTF_CSRF_ENABLED"] = True
    app = request.getfixturevalue("app")
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield type("LiveServer", (), {"url": f"http://127.0.0.1:{server.server_port}", "app": app})
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page(playwright_browser, live_server):
    """A fresh browser context: htmx from the local copy, nothing else leaves 127.0.0.1."""
    htmx_url, _ = base_template_htmx()
    context = playwright_browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    def serve_htmx(route):
        route.fulfill(
            body=HTMX_COPY.read_bytes(),
            content_type="application/javascript",
            headers={"Access-Control-Allow-Origin": "*"},
        )

    def only_local(route):
        route.abort() if not route.request.url.startswith(live_server.url) else route.fallback()

    context.route("**/*", only_local)
    context.route(htmx_url, serve_htmx)  # routes added later take precedence
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The app's Content-Security-Policy is on: anything it blocks fails the test.
    def csp_violation(message):
        if message.type == "error" and "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", csp_violation)
    page.admit_errors = errors  # a test that provokes an error on purpose takes it out
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
