"""Access codes in the dashboard: list, new-code wizard, detail, batches and rollback."""

from flask import Blueprint

bp = Blueprint("codes", __name__, url_prefix="/codes")

# Extra panels of the batch page (templates included in order, each given ``batch`` and
# ``counts``): another area adds its own with ``BATCH_PANELS.append("area/_panel.html")``.
BATCH_PANELS: list[str] = []

from webapp.codes import control, views  # noqa: E402,F401  (registers the routes on bp)
