"""Access codes in the dashboard: list, new-code wizard, detail, batches and rollback."""

from flask import Blueprint

bp = Blueprint("codes", __name__, url_prefix="/codes")

from webapp.codes import views  # noqa: E402,F401  (registers the routes on bp)
