"""Activating codes: the rules of PRODUCT.md."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import make_code, make_plan, make_project, tg_user
from webapp.domain.activation import activate_code
from webapp.domain.errors import AlreadyActivated, CodeExpired, CodeUsedUp, UnknownCode
from webapp.domain.periods import add_months
from webapp.domain.rollback import rollback_code
from webapp.models import AccessCode, Activation, Subscription


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_activation_opens_a_subscription_for_the_plans_period(session):
    # A calendar fact, so a date of its own: this test reads no clock.
    now = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    plan = make_plan(make_project(), unit="month", count=3)
    code = make_code(plan, now, max_activations=10)
    result = activate_code(session, plan.project_id, code.code, tg_user(), now)
    assert result.subscription.started_at == now
    assert result.subscription.ends_at == datetime(2027, 2, 26, 14, 5, tzinfo=UTC)
    assert result.activations_left == 9
    assert not result.extended


def test_typed_code_matches_in_any_case_with_or_without_hyphens(session, now):
    plan = make_plan(make_project())
    code = make_code(plan, now)
    typed = code.code.replace("-", " ").lower()
    assert activate_code(session, plan.project_id, typed, tg_user(), now).code.id == code.id


def test_lifetime_plan_never_ends(session, now):
    plan = make_plan(make_project(), unit="lifetime")
    code = make_code(plan, now)
    assert (
        activate_code(session, plan.project_id, code.code, tg_user(), now).subscription.ends_at
        is None
    )


def test_activating_a_plan_the_customer_has_extends_the_current_end(session, now):
    plan = make_plan(make_project(), unit="day", count=30)
    first, second = make_code(plan, now), make_code(plan, now)
    user = tg_user()
    activate_code(session, plan.project_id, first.code, user, now)
    later = now + timedelta(days=10)
    result = activate_code(session, plan.project_id, second.code, user, later)
    assert result.extended
    assert result.subscription.ends_at == now + timedelta(days=60)
    assert count(session, Subscription) == 1


def test_an_end_that_passed_unswept_is_extended_from_now_not_from_the_past(session, now):
    plan = make_plan(make_project(), unit="day", count=1)
    first, second = make_code(plan, now), make_code(plan, now)
    user = tg_user()
    activate_code(session, plan.project_id, first.code, user, now)
    later = now + timedelta(days=5)
    result = activate_code(session, plan.project_id, second.code, user, later)
    assert result.subscription.ends_at == later + timedelta(days=1)


def test_lifetime_stays_lifetime_when_activated_again(session, now):
    plan = make_plan(make_project(), unit="lifetime")
    first, second = make_code(plan, now), make_code(plan, now)
    user = tg_user()
    activate_code(session, plan.project_id, first.code, user, now)
    assert (
        activate_code(session, plan.project_id, second.code, user, now).subscription.ends_at is None
    )


def test_month_periods_clamp_to_the_end_of_shorter_months():
    assert add_months(datetime(2027, 1, 31, 9, tzinfo=UTC), 1) == datetime(
        2027, 2, 28, 9, tzinfo=UTC
    )
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)


def test_unknown_code_is_refused_and_changes_nothing(session, now):
    plan = make_plan(make_project())
    make_code(plan, now)
    with pytest.raises(UnknownCode):
        activate_code(session, plan.project_id, "NOPE-NOPE-NOPE-NOPE", tg_user(), now)
    assert count(session, Activation) == 0 and count(session, Subscription) == 0


def test_a_code_of_another_project_is_unknown_here(session, now):
    code = make_code(make_plan(make_project()), now)
    other = make_project()
    with pytest.raises(UnknownCode):
        activate_code(session, other.id, code.code, tg_user(), now)


def test_code_expires_at_the_exact_second_of_its_expiry(session, now):
    plan = make_plan(make_project())
    code = make_code(plan, now, max_activations=5, expires_at=now + timedelta(hours=1))
    expiry = code.expires_at
    activate_code(session, plan.project_id, code.code, tg_user(), expiry - timedelta(seconds=1))
    with pytest.raises(CodeExpired):
        activate_code(session, plan.project_id, code.code, tg_user(), expiry)
    assert session.get(AccessCode, code.id).activation_count == 1


def test_used_up_code_is_refused(session, now):
    plan = make_plan(make_project())
    code = make_code(plan, now, max_activations=1)
    activate_code(session, plan.project_id, code.code, tg_user(), now)
    with pytest.raises(CodeUsedUp):
        activate_code(session, plan.project_id, code.code, tg_user(), now)
    assert count(session, Activation) == 1


def test_one_customer_activates_one_code_at_most_once(session, now):
    plan = make_plan(make_project())
    code = make_code(plan, now, max_activations=5)
    user = tg_user()
    activate_code(session, plan.project_id, code.code, user, now)
    with pytest.raises(AlreadyActivated):
        activate_code(session, plan.project_id, code.code, user, now)
    assert session.get(AccessCode, code.id).activation_count == 1


def test_already_activated_is_said_even_when_the_code_is_used_up(session, now):
    plan = make_plan(make_project())
    code = make_code(plan, now, max_activations=1)
    user = tg_user()
    activate_code(session, plan.project_id, code.code, user, now)
    with pytest.raises(AlreadyActivated):
        activate_code(session, plan.project_id, code.code, user, now)


def test_a_rolled_back_code_is_unknown(session, now):
    plan = make_plan(make_project())
    code = make_code(plan, now, max_activations=5)
    rollback_code(session, plan.project_id, code.id, owner_id=None, now=now)
    with pytest.raises(UnknownCode):
        activate_code(session, plan.project_id, code.code, tg_user(), now)


def test_customer_names_are_kept_current(session, now):
    plan = make_plan(make_project())
    first, second = make_code(plan, now), make_code(plan, now)
    activate_code(session, plan.project_id, first.code, tg_user(77, username="old"), now)
    result = activate_code(session, plan.project_id, second.code, tg_user(77, username="new"), now)
    assert result.customer.username == "new"
