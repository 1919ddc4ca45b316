"""The per-bot rate limiter on real Redis (embedded, or the server with TEST_REDIS_URL)."""

import pytest

from webapp.queues import get_redis
from webapp.throttle import PER_BOT_PER_SECOND, BotThrottle, Throttled, bot_id_of


@pytest.fixture
def throttle(app_ctx):
    return BotThrottle(get_redis())


def test_a_bot_gets_its_calls_a_second_and_the_next_is_told_how_long_to_wait(throttle):
    assert 25 <= PER_BOT_PER_SECOND <= 30  # Telegram's limit is about 30 a second
    budget = PER_BOT_PER_SECOND
    assert [throttle.reserve(7001) for _ in range(budget)] == [0.0] * budget
    wait = throttle.reserve(7001)
    assert 0 < wait <= 1.05
    assert throttle.reserve(7002) == 0.0  # another bot has its own budget


def test_one_chat_gets_one_message_a_second_while_others_still_get_theirs(throttle):
    assert throttle.reserve(7001, chat_id=5001) == 0.0
    assert 0.9 < throttle.reserve(7001, chat_id=5001) <= 1.05
    assert throttle.reserve(7001, chat_id=5002) == 0.0


def test_a_refused_call_does_not_use_up_the_bots_budget(throttle):
    throttle.reserve(7001, chat_id=5001)
    for _ in range(50):
        assert throttle.reserve(7001, chat_id=5001) > 0
    # 1 call recorded, so the rest of the budget fits in this second.
    rest = PER_BOT_PER_SECOND - 1
    assert [throttle.reserve(7001) for _ in range(rest)] == [0.0] * rest
    assert throttle.reserve(7001) > 0


def test_waiting_longer_than_allowed_raises_instead_of_sleeping(throttle):
    slept = []
    throttle.reserve(7001, chat_id=5001)
    with pytest.raises(Throttled) as refused:
        throttle.wait(7001, chat_id=5001, max_wait=0.5, sleep=slept.append)
    assert slept == [] and 0.9 < refused.value.wait <= 1.05


def test_wait_sleeps_what_redis_says_then_takes_the_place(app_ctx):
    redis = get_redis()
    throttle = BotThrottle(redis, per_bot=2)
    throttle.reserve(7001)
    throttle.reserve(7001)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        redis.delete("admit:throttle:bot:7001")  # stands in for the second passing

    assert throttle.wait(7001, sleep=sleep) == slept[0] > 0
    assert redis.zcard("admit:throttle:bot:7001") == 1


def test_processes_share_the_budget_through_redis(app_ctx, redis_url):
    from webapp.queues import redis_from_url

    here, elsewhere = BotThrottle(get_redis()), BotThrottle(redis_from_url(redis_url))
    for _ in range(PER_BOT_PER_SECOND // 2):
        assert here.reserve(7001) == 0.0
        assert elsewhere.reserve(7001) == 0.0
    assert here.reserve(7001) > 0 and elsewhere.reserve(7001) > 0


def test_the_redis_keys_carry_the_bot_id_never_its_token():
    assert bot_id_of("7100:AAE-secret") == "7100"
    assert ":" not in bot_id_of("not-a-token") and "secret" not in bot_id_of("x:secret")
