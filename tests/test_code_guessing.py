"""Guessing codes: custom codes are long enough not to be guessed, and many accounts guessing at
one project slow down newcomers and alert the owner, never the project's real customers."""

from datetime import timedelta

import pytest

from tests import factories
from webapp.domain import attempts, code_entry
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.customers import TelegramUser
from webapp.domain.errors import InvalidInput, TooManyAttempts, UnknownCode
from webapp.queues import get_redis


def _user(n: int) -> TelegramUser:
    return TelegramUser(id=700000 + n, first_name="Guess", last_name=None, username=None)


@pytest.mark.parametrize("short", ["GOLD", "VIP-1", "ABCDEFG"])
def test_a_custom_code_under_eight_characters_is_refused(session, now, short):
    plan = factories.make_plan(factories.make_project())
    request = CodeRequest(
        plan_id=plan.id, count=1, max_activations=1, expires_at=None, custom_code=short
    )
    with pytest.raises(InvalidInput, match="8 to 64"):
        create_codes(session, plan.project_id, request, owner_id=None, now=now)


def test_an_eight_character_custom_code_is_taken(session, now):
    plan = factories.make_plan(factories.make_project())
    request = CodeRequest(
        plan_id=plan.id, count=1, max_activations=1, expires_at=None, custom_code="GOLD2027"
    )
    _, codes = create_codes(session, plan.project_id, request, owner_id=None, now=now)
    assert codes[0].code == "GOLD2027"


def _guess(session, redis, project_id, n, now, code="NOPE-NOPE"):
    try:
        code_entry.enter_code(session, redis, project_id, code, _user(n), now)
    except UnknownCode as exc:
        session.rollback()
        return exc
    raise AssertionError("the guess worked")


def test_many_accounts_guessing_slow_newcomers_and_alert_the_owner_once(app_ctx, session, now):
    redis = get_redis()
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now, max_activations=5)
    regular = _user(999)
    code_entry.enter_code(session, redis, plan.project_id, code.code, regular, now)
    session.commit()

    alerts = []
    for n in range(attempts.SWARM_ACCOUNTS):
        alerts.append(_guess(session, redis, plan.project_id, n, now).alert_owner)
    assert attempts.guessing_swarm(redis, plan.project_id, now)
    assert alerts.count(True) == 1 and alerts[-1] is True
    assert _guess(session, redis, plan.project_id, 50, now).alert_owner is False

    # A newcomer in the swarm: one wrong code, then a wait.
    first = _guess(session, redis, plan.project_id, 60, now)
    assert first.attempts_allowed == attempts.NEWCOMER_LIMIT_IN_SWARM
    with pytest.raises(TooManyAttempts):
        code_entry.enter_code(session, redis, plan.project_id, "NOPE-NOPE", _user(60), now)
    session.rollback()

    # The customer who activated before keeps five tries.
    for _ in range(attempts.LIMIT - 1):
        miss = _guess(session, redis, plan.project_id, 999, now)
        assert miss.attempts_allowed == attempts.LIMIT


def test_the_swarm_ends_with_its_window(app_ctx, session, now):
    redis = get_redis()
    plan = factories.make_plan(factories.make_project())
    for n in range(attempts.SWARM_ACCOUNTS):
        _guess(session, redis, plan.project_id, n, now)
    later = now + attempts.WINDOW + timedelta(seconds=1)
    assert not attempts.guessing_swarm(redis, plan.project_id, later)
    assert _guess(session, redis, plan.project_id, 77, later).attempts_allowed == attempts.LIMIT


def test_a_swarm_on_one_project_leaves_other_projects_alone(app_ctx, session, now):
    redis = get_redis()
    attacked = factories.make_plan(factories.make_project())
    other = factories.make_plan(factories.make_project())
    for n in range(attempts.SWARM_ACCOUNTS):
        _guess(session, redis, attacked.project_id, n, now)
    assert not attempts.guessing_swarm(redis, other.project_id, now)


def test_the_bot_tells_the_linked_owner_when_many_accounts_guess(app, emulator):
    from bot.handlers import ProjectHandlers, activation
    from tests.dashboard_helpers import data

    token = "7200001:AAguessing-test-token-0123456789abc"
    emulator.add_bot(token, "GuessBot", "Guess Bot")
    emulator.add_user(5560000, "Olga")
    emulator.start_bot(5560000, token)
    with data(app):
        owner = factories.make_owner("olga@example.com", telegram_user_id=5560000)
        project = factories.make_project(
            owner, bot_token=token, bot_user_id=7200001, bot_username="GuessBot"
        )
        project_id = project.id
    handlers = ProjectHandlers(app, project_id, token)
    try:
        for n in range(attempts.SWARM_ACCOUNTS):
            emulator.add_user(5561000 + n, "Guess")
            emulator.start_bot(5561000 + n, token)
            with app.app_context():
                guesser = TelegramUser(
                    id=5561000 + n, first_name="Guess", last_name=None, username=None
                )
                activation.activate(handlers, guesser.id, guesser, "NOPE-NOPE")
        alert = emulator.wait_for_message(token, 5560000, contains="guessing")
        assert f"At least {attempts.SWARM_ACCOUNTS} Telegram accounts" in alert["text"]
    finally:
        handlers.close()
