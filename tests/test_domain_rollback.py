"""Rollback: activations and code gone, subscriptions taken back, the right people removed."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import make_code, make_plan, make_project, make_resource, tg_user
from webapp.domain.activation import activate_code
from webapp.domain.errors import NotFound
from webapp.domain.rollback import preview_rollback, rollback_code
from webapp.models import AccessCode, Activation, AuditEvent, Removal, Subscription


@pytest.fixture
def club(session):
    project = make_project()
    channel = make_resource(project, "Channel A")
    group = make_resource(project, "Group B")
    return project, channel, group


def activate(session, code, user, now):
    return activate_code(session, code.project_id, code.code, user, now)


def test_rollback_removes_everyone_who_activated_from_the_plans_resources(session, now, club):
    project, channel, group = club
    plan = make_plan(project, resources=[channel, group])
    code = make_code(plan, now, max_activations=10)
    users = [tg_user() for _ in range(3)]
    for user in users:
        activate(session, code, user, now)

    effects = rollback_code(session, project.id, code.id, owner_id=None, now=now)

    assert len(effects.removal_pairs) == 6
    assert effects.summary() == "3 customers will be removed from Channel A and Group B."
    assert effects.summary(done=True) == (
        "3 customers are being removed from Channel A and Group B."
    )
    assert session.get(AccessCode, code.id).deleted_at == now
    assert session.scalar(select(func.count()).select_from(Activation)) == 0
    subs = session.scalars(select(Subscription)).all()
    assert {s.end_reason for s in subs} == {"rolled_back"} and all(s.ended_at == now for s in subs)
    removals = session.scalars(select(Removal)).all()
    assert {(r.reason, r.status) for r in removals} == {("rolled_back", "pending")}
    assert len(removals) == 6


def test_preview_says_the_same_as_the_rollback_and_changes_nothing(session, now, club):
    project, channel, group = club
    plan = make_plan(project, resources=[channel, group])
    code = make_code(plan, now, max_activations=10)
    activate(session, code, tg_user(), now)

    preview = preview_rollback(session, project.id, code.id, now)

    assert preview.summary() == "1 customer will be removed from Channel A and Group B."
    assert session.get(AccessCode, code.id).deleted_at is None
    assert session.scalar(select(func.count()).select_from(Removal)) == 0
    assert rollback_code(session, project.id, code.id, owner_id=None, now=now).summary() == (
        preview.summary()
    )


def test_customer_entitled_elsewhere_keeps_that_resource(session, now, club):
    project, channel, group = club
    promo = make_plan(project, "Promo", resources=[channel, group])
    channel_only = make_plan(project, "Channel year", unit="month", count=12, resources=[channel])
    code = make_code(promo, now, max_activations=5)
    keeper, leaver = tg_user(), tg_user()
    activate(session, code, keeper, now)
    activate(session, code, leaver, now)
    activate(session, make_code(channel_only, now), keeper, now)

    effects = rollback_code(session, project.id, code.id, owner_id=None, now=now)

    pairs = {(r.customer_id, r.resource_id) for r in session.scalars(select(Removal))}
    keeper_id = next(d.customer_id for d in effects.decisions if d.keep)
    assert (keeper_id, channel.id) not in pairs
    assert (keeper_id, group.id) in pairs
    assert len(pairs) == 3
    assert effects.summary() == (
        "2 customers will be removed from Channel A and Group B; "
        "1 keeps access through another subscription."
    )


def test_rollback_of_an_extension_takes_back_only_that_codes_period(session, now, club):
    project, channel, _ = club
    plan = make_plan(project, unit="day", count=30, resources=[channel])
    paid, mistaken = make_code(plan, now), make_code(plan, now)
    user = tg_user()
    activate(session, paid, user, now)
    activate(session, mistaken, user, now + timedelta(days=1))
    sub = session.scalars(select(Subscription)).one()
    assert sub.ends_at == now + timedelta(days=60)

    effects = rollback_code(session, project.id, mistaken.id, owner_id=None, now=now)

    assert effects.removal_pairs == []
    assert sub.ends_at == now + timedelta(days=30) and sub.ended_at is None
    assert effects.summary() == "Nobody will be removed from any channel or group."


def test_rollback_of_the_first_code_keeps_a_later_extension(session, now, club):
    project, channel, _ = club
    plan = make_plan(project, unit="day", count=30, resources=[channel])
    mistaken, paid = make_code(plan, now), make_code(plan, now)
    user = tg_user()
    activate(session, mistaken, user, now)
    activate(session, paid, user, now)

    rollback_code(session, project.id, mistaken.id, owner_id=None, now=now)

    sub = session.scalars(select(Subscription)).one()
    assert sub.ended_at is None and sub.ends_at == now + timedelta(days=30)


def test_rolling_back_twice_or_another_projects_code_is_not_found(session, now, club):
    project, channel, _ = club
    code = make_code(make_plan(project, resources=[channel]), now)
    rollback_code(session, project.id, code.id, owner_id=None, now=now)
    with pytest.raises(NotFound):
        rollback_code(session, project.id, code.id, owner_id=None, now=now)
    other = make_code(make_plan(make_project()), now)
    with pytest.raises(NotFound):
        rollback_code(session, project.id, other.id, owner_id=None, now=now)
    with pytest.raises(NotFound):
        preview_rollback(session, project.id, other.id, now)


def test_rollback_is_audited_and_the_history_outlives_the_code(session, now, club):
    project, channel, _ = club
    code = make_code(make_plan(project, resources=[channel]), now, max_activations=2)
    activate(session, code, tg_user(), now)
    rollback_code(session, project.id, code.id, owner_id=project.owner_id, now=now)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.code_id == code.id).order_by(AuditEvent.id)
    )
    assert list(actions) == ["code.created", "code.activated", "code.rolled_back"]


def test_unused_code_rolls_back_with_nobody_removed(session, now, club):
    project, channel, _ = club
    code = make_code(make_plan(project, resources=[channel]), now)
    effects = rollback_code(session, project.id, code.id, owner_id=None, now=now)
    assert effects.activation_count == 0 and effects.removal_pairs == []
