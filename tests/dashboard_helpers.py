"""Helpers for the dashboard's test-client tests: data made and read in their own app contexts.

Requests get a fresh app context each (and so a fresh session and a fresh ``current_user``);
holding one open across requests would share both between the test and the views.
"""

from contextlib import contextmanager

from sqlalchemy import func, select

from webapp.extensions import db

HTMX = {"HX-Request": "true"}


@contextmanager
def data(app):
    """A session for making test data; committed at the end of the block."""
    with app.app_context():
        yield db.session
        db.session.commit()


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def fetch(app, model, ident):
    """A row by primary key, detached with its columns loaded."""
    with app.app_context():
        row = db.session.get(model, ident)
        if row is not None:
            db.session.expunge(row)
        return row


def text(response) -> str:
    return response.get_data(as_text=True)


def is_fragment(response) -> bool:
    body = text(response)
    return "<html" not in body and "<body" not in body
