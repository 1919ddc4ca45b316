"""One update path: every transport feeds the dispatcher, which handles an update once across
processes and leaves an update it could not finish to the next delivery."""

import threading

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.dispatch import Dispatcher, UpdateInProgress
from bot.handlers import ServiceUnavailable
from tests.test_bot_poller import message_update

TOKEN = "424242:DISPATCH"


@pytest.fixture
def dispatchers(app):
    """Two dispatchers for one bot: two processes that both got the same update."""
    made = [Dispatcher(app, 1, TOKEN), Dispatcher(app, 1, TOKEN)]
    yield made
    for dispatcher in made:
        dispatcher.close()


def recording(dispatcher, handled: list):
    def process(updates):
        handled.extend(u.update_id for u in updates)

    dispatcher.bot.process_new_updates = process


def test_an_update_delivered_to_two_processes_is_handled_once(dispatchers):
    handled: list[int] = []
    first, second = dispatchers
    recording(first, handled)
    recording(second, handled)

    assert first.dispatch(message_update(11, 5001)) is True
    assert second.dispatch(message_update(11, 5001)) is False
    assert first.dispatch(message_update(11, 5001)) is False

    assert handled == [11]


def test_the_same_update_id_of_another_bot_is_a_different_update(app, dispatchers):
    handled: list[int] = []
    other = Dispatcher(app, 2, "434343:OTHER")
    try:
        recording(dispatchers[0], handled)
        recording(other, handled)
        dispatchers[0].dispatch(message_update(12, 5001))
        other.dispatch(message_update(12, 5001))
    finally:
        other.close()
    assert handled == [12, 12]


def test_an_update_being_handled_elsewhere_is_delivered_again_later_not_dropped(dispatchers):
    first, second = dispatchers
    inside = threading.Event()
    finish = threading.Event()
    handled: list[int] = []

    def slow(updates):
        inside.set()
        finish.wait(10)
        handled.extend(u.update_id for u in updates)

    first.bot.process_new_updates = slow
    recording(second, handled)
    worker = threading.Thread(target=first.dispatch, args=(message_update(13, 5001),))
    worker.start()
    assert inside.wait(10)

    with pytest.raises(UpdateInProgress):
        second.dispatch(message_update(13, 5001))
    assert isinstance(UpdateInProgress("x"), ServiceUnavailable)  # transports retry it

    finish.set()
    worker.join(10)
    assert second.dispatch(message_update(13, 5001)) is False
    assert handled == [13]


def test_an_update_that_met_an_outage_is_handled_on_its_next_delivery(dispatchers):
    first, second = dispatchers
    handled: list[int] = []

    def outage(updates):
        raise ServiceUnavailable("database is down")

    first.bot.process_new_updates = outage
    recording(second, handled)

    with pytest.raises(ServiceUnavailable):
        first.dispatch(message_update(14, 5001))
    assert second.dispatch(message_update(14, 5001)) is True
    assert handled == [14]


def test_an_update_whose_handler_fails_is_done_and_not_handled_again(dispatchers, caplog):
    first, second = dispatchers
    calls: list[int] = []

    def broken(updates):
        calls.append(updates[0].update_id)
        raise RuntimeError("a bug")

    first.bot.process_new_updates = broken
    second.bot.process_new_updates = broken

    assert first.dispatch(message_update(15, 5001)) is True
    assert second.dispatch(message_update(15, 5001)) is False
    assert calls == [15]
    assert "a bug" in caplog.text


def test_redis_away_keeps_the_update_for_later(dispatchers, monkeypatch):
    first = dispatchers[0]
    handled: list[int] = []
    recording(first, handled)

    def down(*args, **kwargs):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(first.ledger().redis, "execute_command", down)
    with pytest.raises(ServiceUnavailable):
        first.dispatch(message_update(16, 5001))
    assert handled == []


def test_an_update_claimed_by_a_bot_process_that_died_is_taken_over_at_once(app, dispatchers):
    first, second = dispatchers
    first.claimant, second.claimant = "proc-a", "proc-b"
    redis = first.ledger().redis
    redis.set("admit:bot-process:proc-a", b"1")  # proc-a is alive, and claims update 17
    assert first.ledger().claim(first.bot_id, 17, "proc-a") == "new"
    handled: list[int] = []
    recording(second, handled)

    with pytest.raises(UpdateInProgress):
        second.dispatch(message_update(17, 5001))
    redis.delete("admit:bot-process:proc-a")  # what its announcement's TTL does when it dies
    assert second.dispatch(message_update(17, 5001)) is True
    assert handled == [17]
