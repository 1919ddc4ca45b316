"""Nothing promised is lost: confirmations, owner notices and join links go through the outbox.

The bot's handlers run here in the test process (``ProjectHandlers`` on the test's app) against
the Bot API emulator; the outbox's job runs here too, as a worker would. Failures are injected
with the emulator's fault hooks; time moves with the product's clock.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

import webapp.worker
from bot.handlers import ProjectHandlers
from bot.outbox import deliver_outbox_message
from tests.conftest import NOW
from tests.factories import (
    PASSWORD,
    make_code,
    make_owner,
    make_plan,
    make_project,
    make_resource,
    tg_user,
)
from webapp import clock, jobs
from webapp.domain import lifecycle, outbox
from webapp.domain.lifecycle import LEASE, Outcome
from webapp.extensions import db
from webapp.models import Activation, OutboxMessage, Plan, Project
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
        self.handlers.on_start(user_id, tg_user(user_id), code)
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


@pytest.fixture
def world(emulator, app_ctx, monkeypatch):
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
    made = World(app, emulator, project.id, plan.id, channel.id)
    db.session.commit()
    yield made
    made.finish()


def join_urls(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["url"] for row in markup.get("inline_keyboard") or [] for b in row if "url" in b]


# ---- the happy path stays immediate ------------------------------------------------------------


def test_a_confirmation_goes_at_once_and_the_sweep_finds_nothing_left(world):
    world.start(ANN, world.code())
    world.finish()

    [confirmation] = world.confirmations()
    assert len(join_urls(confirmation)) == 1
    assert any("activated" in t for t in world.texts(OWNER_TG))
    assert [r.status for r in world.rows(outbox.CONFIRMATION)] == ["sent"]
    assert [r.status for r in world.rows(outbox.OWNER_NOTICE)] == ["sent"]
    assert world.sweep() == []


# ---- Telegram failing: not lost, sent later, once ----------------------------------------------


def test_a_confirmation_telegram_refuses_for_a_while_is_sent_later_with_its_join_button(world):
    code = world.code()
    # More 502s than one call retries (5 attempts): the handler gives up on it for now.
    world.emu.fail_next("sendMessage", 502, "Bad Gateway", times=5, token=TOKEN)

    world.start(ANN, code)
    world.finish()

    assert world.confirmations() == []
    [row] = world.rows(outbox.CONFIRMATION)
    assert (row.status, row.attempts) == ("pending", 1)
    assert world.sweep() == []  # backing off: not due yet
    world.at(NOW + timedelta(minutes=1))
    assert world.sweep() == ["done"]
    [confirmation] = world.confirmations()
    assert "Code accepted" in confirmation["text"] and len(join_urls(confirmation)) == 1
    world.at(NOW + timedelta(hours=2))
    assert world.sweep() == []
    assert len(world.confirmations()) == 1


def test_a_long_flood_wait_on_a_confirmation_postpones_it_instead_of_losing_it(world):
    code = world.code()
    world.emu.fail_next("sendMessage", 429, retry_after=90, token=TOKEN)

    world.start(ANN, code)
    world.finish()

    assert world.confirmations() == []
    [row] = world.rows(outbox.CONFIRMATION)
    assert row.next_attempt_at == NOW + timedelta(seconds=90)
    world.at(NOW + timedelta(seconds=60))
    assert world.sweep() == []
    world.at(NOW + timedelta(seconds=91))
    assert world.sweep() == ["done"]
    assert len(world.confirmations()) == 1


def test_a_bot_that_dies_after_the_activation_commits_still_has_its_messages_sent(
    world, monkeypatch
):
    code = world.code()

    def die(*args, **kwargs):
        raise SystemExit("killed")  # the process ends between the commit and Telegram

    monkeypatch.setattr("bot.handlers.deliver_customer_message", die)
    with pytest.raises(SystemExit):
        world.start(ANN, code)
    db.session.rollback()
    assert db.session.scalar(select(Activation.id)) is not None
    assert world.sweep() == []  # the dead handler's claim holds until its lease runs out

    world.at(NOW + LEASE)
    results = world.sweep()

    assert sorted(results) == ["1 owner notice(s) sent", "done"]
    assert len(world.confirmations()) == 1
    assert sum("activated" in t for t in world.texts(OWNER_TG)) == 1
    world.at(NOW + 2 * LEASE)
    assert world.sweep() == []


def test_a_redelivered_start_gives_no_second_confirmation_or_owner_notice(world):
    code = world.code()
    world.start(ANN, code)
    world.start(ANN, code)  # the same update again, after a restart
    world.finish()

    assert len(world.confirmations()) == 1
    assert len(world.rows(outbox.OWNER_NOTICE)) == 1
    assert sum("activated" in t for t in world.texts(OWNER_TG)) == 1


def test_owner_notices_piled_up_go_merged_and_each_is_sent_once(world):
    codes = [world.code() for _ in range(3)]
    world.emu.fail_next("sendMessage", 429, retry_after=90, token=TOKEN)
    # The first activation's confirmation eats the failures; the notices wait in the outbox.
    for n, code in enumerate(codes):
        world.emu.add_user(ANN + 10 + n, "Cy", "Lee", f"cy{n}")
        world.start(ANN + 10 + n, code)
    world.finish()
    world.at(NOW + timedelta(hours=1))
    world.sweep()

    notices = [t for t in world.texts(OWNER_TG) if "activated" in t]
    assert sum(t.count("activated") for t in notices) == 3
    assert all(r.status == "sent" for r in world.rows(outbox.OWNER_NOTICE))


# ---- the owner sees what finally failed --------------------------------------------------------


def test_a_confirmation_to_a_customer_who_blocked_the_bot_fails_visibly_to_the_owner(
    world, client
):
    code = world.code()
    world.emu.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", token=TOKEN)

    world.start(ANN, code)

    [row] = world.rows(outbox.CONFIRMATION)
    assert (row.status, row.last_error) == ("failed", lifecycle.BLOCKED_ERROR)
    [shown] = outbox.undelivered(db.session, world.project_id)
    assert (shown.kind, shown.who, shown.error) == (
        "Confirmation", "Ann Lee", lifecycle.BLOCKED_ERROR
    )
    db.session.commit()
    client.post("/login", data={"email": _owner_email(world), "password": _password()})
    page = client.get(f"/projects/{world.project_id}").get_data(as_text=True)
    assert "Messages not delivered" in page and "blocked the bot" in page


def _owner_email(world) -> str:
    return db.session.get(Project, world.project_id).owner.email


def _password() -> str:
    return PASSWORD


def test_a_message_retried_until_its_attempts_run_out_is_failed_with_the_reason(session, now):
    project = make_project()
    message = outbox.write(session, project.id, outbox.OWNER_NOTICE, OWNER_TG, "hi", now)
    session.flush()
    at = now
    for _ in range(outbox.MAX_ATTEMPTS):
        claimed = outbox.claim(session, message.id, at)
        assert claimed is not None
        assert outbox.claim(session, message.id, at) is None  # one claimant
        outbox.settle(session, message.id, at, Outcome.retry(at, "Telegram did not answer"), at)
        session.refresh(message)
        at = message.next_attempt_at or at
    assert message.status == "failed"
    assert message.last_error.startswith(f"gave up after {outbox.MAX_ATTEMPTS} attempts")
    assert outbox.due_ids(session, at + timedelta(days=1)) == []


def test_a_late_settle_from_a_superseded_sender_changes_nothing(session, now):
    project = make_project()
    message = outbox.write(session, project.id, outbox.OWNER_NOTICE, OWNER_TG, "hi", now)
    session.flush()
    assert outbox.claim(session, message.id, now)
    later = now + LEASE
    assert outbox.claim(session, message.id, later)  # the first sender's lease ran out
    assert outbox.settle(session, message.id, now, Outcome.done(), later) is False
    assert outbox.settle(session, message.id, later, Outcome.done(), later) is True
    session.refresh(message)
    assert (message.status, message.sent_at) == ("sent", later)


def test_the_sweep_enqueues_due_outbox_messages_once(world):
    world.emu.fail_next("sendMessage", 429, retry_after=90, token=TOKEN)
    world.start(ANN, world.code())
    world.at(NOW + timedelta(minutes=5))
    db.session.commit()
    queue = jobs.get_queue()
    first = jobs.sweep_lifecycle()
    second = jobs.sweep_lifecycle()
    assert first["messages"] >= 1 and second["messages"] == 0
    queue.empty()
