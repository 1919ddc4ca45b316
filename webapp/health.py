"""A liveness check for the platform's router and for ``make run``'s start-up."""

from flask import Blueprint
from sqlalchemy import text

from webapp.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    db.session.execute(text("SELECT 1"))
    return {"ok": True}
