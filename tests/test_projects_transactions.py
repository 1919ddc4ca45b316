"""A dashboard request holds no database transaction while it waits for Telegram.

On SQLite an open transaction is the write lock (BEGIN IMMEDIATE): the bot's activations would
wait behind an owner's slow getMe. On PostgreSQL it would sit 'idle in transaction'.
"""

import pytest

from tests.dashboard_helpers import data
from tests.factories import make_project, make_resource
from webapp import telegram
from webapp.extensions import db
from webapp.models import Owner, Project

CHAT = {"id": -1001, "type": "channel", "title": "Gold Channel", "username": "goldchannel"}
ADMIN = {"status": "administrator", "can_invite_users": True, "can_restrict_members": True}


@pytest.fixture
def open_transactions(monkeypatch):
    """Each Bot API call the views make records whether a transaction was open at that moment."""
    seen: list[bool] = []

    def answer(value):
        def call(*args, **kwargs):
            seen.append(db.session().in_transaction())
            return value

        return call

    monkeypatch.setattr(telegram, "get_me", answer({"id": 42, "username": "GoldBot"}))
    monkeypatch.setattr(telegram, "get_chat", answer(CHAT))
    monkeypatch.setattr(telegram, "get_chat_member", answer(ADMIN))
    return seen


@pytest.fixture
def project_id(app, logged_in_owner):
    with data(app) as session:
        return make_project(session.get(Owner, logged_in_owner.id)).id


def test_creating_a_project_asks_telegram_outside_any_transaction(
    client, logged_in_owner, open_transactions
):
    response = client.post("/projects/new", data={"name": "Gold", "bot_token": "42:ABCDEF"})
    assert response.status_code == 303
    assert open_transactions == [False]


def test_adding_a_resource_asks_telegram_outside_any_transaction(
    client, project_id, open_transactions
):
    response = client.post(f"/projects/{project_id}/resources", data={"chat": "@goldchannel"})
    assert response.status_code in (200, 303)
    assert open_transactions == [False, False]


def test_rechecking_a_resource_asks_telegram_outside_any_transaction(
    app, client, project_id, open_transactions
):
    with data(app) as session:
        resource_id = make_resource(session.get(Project, project_id), chat_id=-1001).id
    response = client.post(f"/projects/{project_id}/resources/{resource_id}/check")
    assert response.status_code in (200, 303)
    assert open_transactions == [False, False]
