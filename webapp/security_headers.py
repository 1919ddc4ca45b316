"""Security headers on every response: a Content-Security-Policy that lets exactly the pinned
htmx and our own static files run, no framing, no MIME sniffing, a strict referrer policy, HSTS
in production, and no caching of logged-in pages (they show access codes)."""

from flask import Flask, request
from flask_login import current_user

# The one third-party script, pinned by version and by hash (its SRI). templates/base.html loads
# it from these; the CSP names the same URL and hash, so neither can drift alone.
HTMX_SRC = "https://cdn.jsdelivr.net/npm/htmx.org@2.0.11/dist/htmx.min.js"
HTMX_INTEGRITY = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'self' {HTMX_SRC} '{HTMX_INTEGRITY}'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"


def register(app: Flask) -> None:
    production = app.config.get("ADMIT_ENV") == "production"

    @app.context_processor
    def htmx_script():
        return {"htmx_src": HTMX_SRC, "htmx_integrity": HTMX_INTEGRITY}

    @app.after_request
    def add_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint != "static" and current_user.is_authenticated:
            headers["Cache-Control"] = "no-store"
        return response
