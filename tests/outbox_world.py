"""A project, its bot's handlers running in the test process, and the Bot API emulator: the
world of the outbox and race tests. Import the fixture (``world``) into a test module::

    from tests.outbox_world import world_fixture  # noqa: F401
"""

from datetime import timedelta  # noqa: F401 - re-exported for the tests' convenience

import pytest
from sqlalchemy import select

import webapp.worker
from bot.dispatch import on_start
from bot.handlers import ProjectHandlers
from bot.outbox import deliver_outbox_message
from tests.factories import make_code, make_owner, make_plan, make_project, make_resource, tg_user
from webapp import clock
from webapp.domain import outbox
from webapp.extensions import db
from webapp.models import OutboxMessage, Plan
from webapp.queues import get_redis

TOKEN = "7300:AAoutbox-test-secret"
BOT_ID = 7300
OWNER_TG = 4300
ANN = 5301
CHANNEL = -1001000000301


class World:
    def __init__(self, app, emu, project_id, plan_id, resource_id):
        self.app, self.emu = app, emu
        self.project_id, self.plan_id, self.resource_id = project_id, plan_id, resource_id
        self.handlers = ProjectHandlers(app, project_id, TOKEN)

    def code(self, **fields) -> str:
        plan = db.session.get(Plan, self.plan_id)
        text = make_code(plan, clock.now(), **fields).code
        db.session.commit()
        return text

    def start(self, user_id: int, code: str) -> None:
        """The customer taps the activation link; the handler runs to its end."""
        db.session.commit()
        on_start(self.handlers, user_id, tg_user(user_id), code)
        db.session.rollback()

    def finish(self) -> None:
        """The bot's owner-notice thread has sent what it was woken for."""
        db.session.commit()  # SQLite: an open transaction here would hold the thread's writes
        self.handlers.close()

    def sweep(self) -> list[str]:
        """What the minute's sweep finds due in the outbox, sent here as a worker would."""
        db.session.commit()
        with self.app.app_context():
            due = outbox.due_ids(db.session, clock.now())
            db.session.rollback()
        return [deliver_outbox_message(message_id) for message_id in due]

    def at(self, moment) -> None:
        clock.set_fake_now(get_redis(), moment)
        self.emu.set_clock(moment.timestamp())

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("text") or "" for m in self.emu.sent_messages(TOKEN, chat_id=chat_id)]

    def confirmations(self, chat_id: int = ANN) -> list[dict]:
        return [
            m for m in self.emu.sent_messages(TOKEN, chat_id=chat_id)
            if "Code accepted" in (m.get("text") or "")
        ]

    def rows(self, kind: str) -> list[OutboxMessage]:
        db.session.rollback()
        return list(
            db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


@pytest.fixture(name="world")
def world_fixture(emulator, app_ctx, monkeypatch):
    app = app_ctx
    monkeypatch.setattr(webapp.worker, "_app", app)
    emulator.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    emulator.add_user(ANN, "Ann", "Lee", "ann")
    emulator.add_user(OWNER_TG, "Olga", "Owner", "olga")
    emulator.add_chat(CHANNEL, "channel", "Gold Club Channel")
    emulator.set_chat_admin(CHANNEL, BOT_ID, can_invite_users=True, can_restrict_members=True)
    project = make_project(
        make_owner(telegram_user_id=OWNER_TG),
        bot_token=TOKEN,
        bot_user_id=BOT_ID,
        bot_username="GoldClubBot",
    )
    channel = make_resource(project, "Gold Club Channel", chat_id=CHANNEL)
    plan = make_plan(project, "3 months", resources=[channel])
    for user_id in (ANN, OWNER_TG):
        emulator.start_bot(user_id, TOKEN)  # Telegram lets a bot write only to who started it
    made = World(app, emulator, project.id, plan.id, channel.id)
    db.session.commit()
    yield made
    made.finish()


def join_urls(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["url"] for row in markup.get("inline_keyboard") or [] for b in row if "url" in b]
