"""The Content-Security-Policy in a real browser: the pinned htmx runs, nothing injected does."""

import pytest

pytestmark = pytest.mark.browser


def test_the_browser_runs_the_pinned_htmx_and_blocks_an_injected_inline_script(page, live_server):
    page.goto("/login")
    assert page.evaluate("typeof htmx") == "object", "the CSP blocked the pinned htmx"
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = 1'; document.head.appendChild(s); }"
    )
    assert page.evaluate("window.injected") is None
    page.wait_for_function("() => true")
    violations = [e for e in page.admit_errors if "Content Security Policy" in e]
    assert violations, "the browser reported no CSP violation"
    for violation in violations:
        page.admit_errors.remove(violation)
