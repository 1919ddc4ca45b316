"""The bot process's poller: batches, per-user order, and updates kept when the database is down."""

import threading

import pytest
from sqlalchemy.exc import OperationalError
from telebot import types

from bot.handlers import ServiceUnavailable
from bot.polling import HandledUpdates, Poller, update_key
from tests.bot_process import wait_until


def message_update(update_id: int, user_id: int, text: str = "hi") -> types.Update:
    return types.Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": user_id, "is_bot": False, "first_name": "U"},
                "text": text,
            },
        }
    )


@pytest.fixture
def poller(app):
    poller = Poller(app, 1, "123:TEST")
    yield poller
    poller.pool.shutdown()


def test_one_users_updates_are_handled_in_order_and_others_in_parallel(poller):
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(updates):
        with lock:
            seen.extend((u.message.from_user.id, u.update_id) for u in updates)

    poller.bot.process_new_updates = record
    batch = [message_update(i, 5001 if i % 2 else 5002) for i in range(1, 21)]

    assert poller.handle(batch) is None

    assert sorted(seen) == sorted((u.message.from_user.id, u.update_id) for u in batch)
    for user in (5001, 5002):
        ids = [uid for who, uid in seen if who == user]
        assert ids == sorted(ids)


def test_an_update_the_database_could_not_take_is_kept_for_another_try(poller):
    def flaky(updates):
        if updates[0].update_id == 7:
            raise ServiceUnavailable("database is down")

    poller.bot.process_new_updates = flaky
    batch = [message_update(i, 5000 + i) for i in range(5, 10)]

    assert poller.handle(batch) == 7


def test_after_an_outage_only_the_updates_that_failed_are_handled_again(poller):
    """Update 7 meets a database outage; 8 and 9 (other people) went through and must not be
    handled a second time when Telegram delivers everything from 7 on again."""
    telegram_queue = [message_update(i, 5000 + i) for i in range(5, 10)]
    handled: list[int] = []
    outage = {7}

    def get_updates(offset=None, **kwargs):
        pending = [u for u in telegram_queue if offset is None or u.update_id >= offset]
        if not pending:
            poller.stopping.wait(0.05)  # a long poll that found nothing
        return pending

    def process(updates):
        [update] = updates
        if update.update_id in outage:
            outage.discard(update.update_id)
            raise ServiceUnavailable("database is down")
        handled.append(update.update_id)

    poller.bot.get_updates = get_updates
    poller.bot.process_new_updates = process
    poller.start()
    try:
        wait_until(lambda: poller.offset == 10, timeout=10, what="every update confirmed")
    finally:
        poller.stopping.set()
        poller.thread.join(10)

    assert sorted(handled) == [5, 6, 7, 8, 9]
    assert len(poller.handled) == 0  # everything confirmed: nothing left to remember


def test_handled_update_ids_are_remembered_up_to_a_limit():
    handled = HandledUpdates(limit=3)
    for update_id in range(1, 6):
        handled.add(update_id)
    assert [i in handled for i in range(1, 6)] == [False, False, True, True, True]
    handled.forget_below(5)
    assert len(handled) == 1 and 5 in handled


def test_a_database_outage_inside_a_handler_becomes_service_unavailable(app, poller):
    from bot.handlers import ProjectHandlers

    handlers = ProjectHandlers(app, 1, "123:TEST")

    def broken(handlers, update):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.raises(ServiceUnavailable):
        handlers.unit(broken)(message_update(1, 5001).message)


def test_updates_are_keyed_by_the_person_they_come_from():
    assert update_key(message_update(1, 5001)) == 5001
    odd = types.Update.de_json({"update_id": 9, "poll": {
        "id": "1", "question": "?", "options": [], "total_voter_count": 0, "is_closed": False,
        "is_anonymous": True, "type": "regular", "allows_multiple_answers": False}})
    assert update_key(odd) == ("update", 9)


SECRET_TOKEN = "987654:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


# ---- no bot token in the logs ------------------------------------------------------------------


def test_a_failed_confirmation_is_logged_without_the_bot_token(app, monkeypatch, caplog):
    from telebot import apihelper

    poller = Poller(app, 1, SECRET_TOKEN)
    poller.pool.shutdown()
    poller.offset = 42
    # Nothing listens on port 9: requests fails, and its message names the URL with the token.
    monkeypatch.setattr(apihelper, "API_URL", "http://127.0.0.1:9/bot{0}/{1}")

    poller.confirm()

    assert "could not confirm updates: ConnectionError" in caplog.text
    assert SECRET_TOKEN not in caplog.text


def test_a_handler_failure_is_logged_with_its_traceback_but_without_the_bot_token(app, caplog):
    from bot.handlers import ProjectHandlers

    poller = Poller(app, 1, SECRET_TOKEN)
    poller.pool.shutdown()
    handlers = ProjectHandlers(app, 1, SECRET_TOKEN)

    def leaky(handlers, update):
        raise RuntimeError(f"POST https://api.telegram.org/bot{SECRET_TOKEN}/sendMessage failed")

    handlers.unit(leaky)(types.Update.de_json({"update_id": 1}))
    poller.bot.process_new_updates = lambda updates: leaky(handlers, updates[0])
    assert poller.handle_in_order([message_update(2, 5001)]) is None

    assert caplog.text.count("Traceback") == 2
    assert caplog.text.count("/bot<token>/sendMessage") == 2
    assert SECRET_TOKEN not in caplog.text


def test_redaction_hides_the_given_token_and_anything_shaped_like_one():
    from bot.redaction import redact

    other = "123456789:AAF-abcdefghijklmnopqrstuvwxyz_0123"
    text = f"/bot{SECRET_TOKEN}/getMe and /bot{other}/getUpdates, chat -1001234567890"
    assert redact(text, SECRET_TOKEN) == (
        "/bot<token>/getMe and /bot<token>/getUpdates, chat -1001234567890"
    )
    assert redact("short 123:TEST token", "123:TEST") == "short <token> token"
