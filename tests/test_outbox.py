"""Nothing promised is lost: confirmations, owner notices and join links go through the outbox.

The bot's handlers run here in the test process (``ProjectHandlers`` on the test's app) against
the Bot API emulator; the outbox's job runs here too, as a worker would. Failures are injected
with the emulator's fault hooks; time moves with the product's clock.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import NOW
from tests.factories import PASSWORD, make_project
from tests.outbox_world import (  # noqa: F401 - the fixture
    ANN,
    OWNER_TG,
    TOKEN,
    join_urls,
    world_fixture,
)
from webapp import jobs
from webapp.domain import lifecycle, outbox
from webapp.domain.lifecycle import LEASE, Outcome
from webapp.extensions import db
from webapp.models import Activation, OutboxMessage, Project

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

    monkeypatch.setattr("bot.handlers.activation.deliver_customer_message", die)
    with pytest.raises(SystemExit):
        world.start(ANN, code)
    db.session.rollback()
    assert db.session.scalar(select(Activation.id)) is not None
    # The owner's notice was for whoever is free; the confirmation stays the dead handler's
    # until its lease runs out.
    assert world.sweep() == ["1 owner notice(s) sent"]

    world.at(NOW + LEASE)
    assert world.sweep() == ["done"]

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
        world.emu.start_bot(ANN + 10 + n, TOKEN)
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
    message_id = outbox.write(session, project.id, outbox.OWNER_NOTICE, OWNER_TG, "hi", now)
    message = session.get(OutboxMessage, message_id)
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
    message_id = outbox.write(session, project.id, outbox.OWNER_NOTICE, OWNER_TG, "hi", now)
    message = session.get(OutboxMessage, message_id)
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
