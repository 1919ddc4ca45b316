"""Insight: funnels of codes, batches and plans, charts of the business, CSV exports."""

from flask import Blueprint

bp = Blueprint("insight", __name__, url_prefix="/insight")

from webapp.insight import views  # noqa: E402,F401  (registers the routes on bp)
