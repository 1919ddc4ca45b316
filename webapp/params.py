"""Ids, pages and cursors from the URL: what cannot name a row is a 404, never a query.

``int`` in every route is bounded to the database's integer (``/codes/3000000000`` is a 404,
not PostgreSQL's "integer out of range" as a 500).
"""

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

from webapp.domain.code_queries import Cursor
from webapp.domain.ids import DB_INT_MAX, parse_id

MAX_PAGE = 10_000


class RowIdConverter(IntegerConverter):
    """``<int:…>`` that matches only numbers a row id can be."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(url_map, *args, **kwargs)


def register(app: Flask) -> None:
    """Before any route is added: the converter is bound when a rule is."""
    app.url_map.converters["int"] = RowIdConverter


def id_arg(name: str) -> int | None:
    """The row id in query parameter ``name``; None when absent or empty, 404 when it cannot be
    an id (``?project=abc``, ``?project=3000000000``)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    value = parse_id(raw)
    if value is None:
        abort(404)
    return value


def page_arg(name: str = "page") -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return 1
    value = parse_id(raw)
    if value is None or value > MAX_PAGE:
        abort(404)
    return value


def cursor_arg(name: str) -> Cursor | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    cursor = Cursor.decode(raw)
    if cursor is None:
        abort(404)
    return cursor
