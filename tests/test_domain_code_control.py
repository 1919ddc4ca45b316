"""Owner control over existing codes: pause, resume, edit, batches, one activation undone."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import make_code, make_plan, make_project, make_resource, tg_user
from webapp.domain import code_control
from webapp.domain.activation import activate_code
from webapp.domain.code_queries import CodeFilter, list_codes
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.errors import CodePaused, InvalidInput
from webapp.domain.rollback import (
    preview_rollback_activation,
    preview_rollback_codes,
    rollback_activation,
    rollback_codes,
)
from webapp.models import AccessCode, Activation, AuditEvent, Removal, Subscription


@pytest.fixture
def plan(session):
    project = make_project()
    return make_plan(project, resources=[make_resource(project, "Channel A")])


def activate(session, code, user, now):
    return activate_code(session, code.project_id, code.code, user, now)


def actions(session, code_id):
    return [
        e.action
        for e in session.scalars(
            select(AuditEvent).where(AuditEvent.code_id == code_id).order_by(AuditEvent.id)
        )
    ]


def test_paused_code_refuses_activation_and_keeps_members(session, now, plan):
    code = make_code(plan, now, max_activations=5)
    member = activate(session, code, tg_user(), now)

    assert code_control.pause_code(session, plan.project_id, code.id, owner_id=None, now=now)

    with pytest.raises(CodePaused):
        activate(session, code, tg_user(), now)
    subscription = session.get(Subscription, member.subscription.id)
    assert subscription.ended_at is None and subscription.is_active(now)
    assert session.scalar(select(func.count()).select_from(Removal)) == 0
    assert session.get(AccessCode, code.id).status(now) == "paused"
    assert actions(session, code.id)[-1] == "code.paused"


def test_resumed_code_activates_again_and_history_has_both(session, now, plan):
    code = make_code(plan, now, max_activations=5)
    code_control.pause_code(session, plan.project_id, code.id, owner_id=None, now=now)
    code_control.resume_code(session, plan.project_id, code.id, owner_id=None, now=now)

    activate(session, code, tg_user(), now)

    assert session.get(AccessCode, code.id).activation_count == 1
    assert actions(session, code.id)[-3:] == ["code.paused", "code.resumed", "code.activated"]


def test_pausing_twice_records_one_change(session, now, plan):
    code = make_code(plan, now)
    assert code_control.pause_code(session, plan.project_id, code.id, owner_id=None, now=now)
    assert not code_control.pause_code(session, plan.project_id, code.id, owner_id=None, now=now)
    assert actions(session, code.id).count("code.paused") == 1


def test_paused_filter_lists_paused_codes_only_and_active_leaves_them_out(session, now, plan):
    paused, running = make_code(plan, now), make_code(plan, now)
    code_control.pause_code(session, plan.project_id, paused.id, owner_id=None, now=now)
    flt = CodeFilter(project_ids=(plan.project_id,), status="paused")
    assert [c.id for c in list_codes(session, flt, now).codes] == [paused.id]
    flt = CodeFilter(project_ids=(plan.project_id,), status="active")
    assert [c.id for c in list_codes(session, flt, now).codes] == [running.id]


def test_edit_changes_max_expiry_and_note_with_the_change_in_history(session, now, plan):
    code = make_code(plan, now, max_activations=2)
    new_expiry = now + timedelta(days=10)
    changes = code_control.edit_code(
        session, plan.project_id, code.id,
        code_control.CodeEdit(max_activations=7, expires_at=new_expiry, note=" for Ann "),
        owner_id=None, now=now,
    )
    code = session.get(AccessCode, code.id)
    assert (code.max_activations, code.expires_at, code.note) == (7, new_expiry, "for Ann")
    assert changes["max_activations"] == [2, 7]
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "code.edited")).one()
    assert event.details["changes"]["note"] == [None, "for Ann"]


def test_edit_refuses_max_activations_below_what_is_used_and_changes_nothing(session, now, plan):
    code = make_code(plan, now, max_activations=5)
    activate(session, code, tg_user(), now)
    activate(session, code, tg_user(), now)
    with pytest.raises(InvalidInput) as refused:
        code_control.edit_code(
            session, plan.project_id, code.id,
            code_control.CodeEdit(max_activations=1, expires_at=None, note="x"),
            owner_id=None, now=now,
        )
    assert refused.value.field == "max_activations"
    assert "activated 2 times" in refused.value.message
    code = session.get(AccessCode, code.id)
    assert (code.max_activations, code.note) == (5, None)


def test_edit_refuses_an_expiry_in_the_past(session, now, plan):
    code = make_code(plan, now)
    with pytest.raises(InvalidInput) as refused:
        code_control.edit_code(
            session, plan.project_id, code.id,
            code_control.CodeEdit(max_activations=1, expires_at=now - timedelta(days=1), note=None),
            owner_id=None, now=now,
        )
    assert refused.value.field == "expires_at"


def make_batch(session, plan, now, count=4, max_activations=1):
    batch, codes = create_codes(
        session, plan.project_id,
        CodeRequest(plan_id=plan.id, max_activations=max_activations, expires_at=None,
                    count=count),
        owner_id=None, now=now,
    )
    return batch, codes


def test_batch_counts_say_used_unused_paused_rolled_back_and_activations(session, now, plan):
    batch, codes = make_batch(session, plan, now, count=4, max_activations=2)
    activate(session, codes[0], tg_user(), now)
    activate(session, codes[0], tg_user(), now)
    activate(session, codes[1], tg_user(), now)
    code_control.pause_codes(
        session, plan.project_id, code_control.batch_code_ids(session, batch.id, unused_only=True),
        owner_id=None, now=now,
    )
    rollback_codes(session, plan.project_id, [codes[1].id], owner_id=None, now=now)

    counts = code_control.batch_counts(session, batch.id)

    assert counts == code_control.BatchCounts(
        codes=4, used=1, unused=2, paused=2, rolled_back=1, activations=2
    )


def test_pause_all_unused_leaves_activated_codes_running(session, now, plan):
    batch, codes = make_batch(session, plan, now, count=3, max_activations=2)
    activate(session, codes[0], tg_user(), now)
    paused = code_control.pause_codes(
        session, plan.project_id, code_control.batch_code_ids(session, batch.id, unused_only=True),
        owner_id=None, now=now,
    )
    assert paused == 2
    assert [session.get(AccessCode, c.id).paused_at is not None for c in codes] == [
        False, True, True
    ]


def test_batch_rollback_counts_a_customer_of_two_of_its_codes_once(session, now, plan):
    batch, codes = make_batch(session, plan, now, count=3)
    ann, bob = tg_user(), tg_user()
    activate(session, codes[0], ann, now)
    activate(session, codes[1], ann, now)  # extends Ann's subscription
    activate(session, codes[2], bob, now)
    ids = code_control.batch_code_ids(session, batch.id)

    preview = preview_rollback_codes(session, plan.project_id, ids, now)
    assert preview.summary() == "2 customers will be removed from Channel A."

    effects = rollback_codes(session, plan.project_id, ids, owner_id=None, now=now)
    assert effects.summary(done=True) == "2 customers are being removed from Channel A."
    assert session.scalar(select(func.count()).select_from(Removal)) == 2
    assert all(s.end_reason == "rolled_back" for s in session.scalars(select(Subscription)))
    assert session.scalar(select(func.count()).select_from(Activation)) == 0


def test_batch_rollback_preview_names_who_keeps_access_through_another_code(session, now, plan):
    batch, codes = make_batch(session, plan, now, count=2)
    keeper = tg_user()
    activate(session, codes[0], keeper, now)
    activate(session, make_code(plan, now), keeper, now)  # paid twice, once outside the batch

    preview = preview_rollback_codes(
        session, plan.project_id, code_control.batch_code_ids(session, batch.id), now
    )
    assert preview.summary() == "Nobody will be removed from any channel or group."
    assert len(preview.shortened) == 1


def test_rolling_back_one_activation_removes_that_customer_and_keeps_the_code(session, now, plan):
    code = make_code(plan, now, max_activations=3)
    refunded = activate(session, code, tg_user(), now)
    stays = activate(session, code, tg_user(), now)

    preview = preview_rollback_activation(session, plan.project_id, refunded.activation.id, now)
    assert preview.summary() == "1 customer will be removed from Channel A."
    effects = rollback_activation(
        session, plan.project_id, refunded.activation.id, owner_id=None, now=now
    )

    code = session.get(AccessCode, code.id)
    assert code.deleted_at is None and code.activation_count == 1
    assert effects.customers_removed == 1
    removal = session.scalars(select(Removal)).one()
    assert removal.customer_id == refunded.customer.id and removal.code_id == code.id
    assert session.get(Subscription, stays.subscription.id).is_active(now)
    assert actions(session, code.id)[-1] == "activation.rolled_back"


def test_rollback_preview_warns_where_the_bot_cannot_remove_anyone(session, now):
    project = make_project()
    weak = make_resource(project, "Weak Chat", can_restrict_members=False)
    plan = make_plan(project, resources=[weak])
    code = make_code(plan, now)
    activate(session, code, tg_user(), now)

    preview = preview_rollback_codes(session, project.id, [code.id], now)

    assert [(r.title, n) for r, n in preview.failing_removals()] == [("Weak Chat", 1)]
