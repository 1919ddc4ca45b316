"""Owner sign-up, log-in and log-out."""

from flask import Blueprint

from webapp.extensions import db, login_manager
from webapp.models import Owner

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_owner(owner_id: str) -> Owner | None:
    return db.session.get(Owner, int(owner_id))
