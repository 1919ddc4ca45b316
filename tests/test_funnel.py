"""The funnel in the domain: every step of a code recorded once per customer, with its time,
and the plan's and batch's tallies kept by the database in step with the rows."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tests import factories
from webapp.domain import code_entry, funnel, lifecycle, memberships
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.errors import AlreadyActivated, CodeExpired, CodeUsedUp, TooManyAttempts
from webapp.domain.lifecycle import Outcome
from webapp.domain.rollback import rollback_code
from webapp.models import FunnelStep, FunnelTally, Removal
from webapp.queues import get_redis


@pytest.fixture
def redis(app_ctx):
    return get_redis()


def enter(session, redis, code, user, now):
    return code_entry.enter_code(session, redis, code.project_id, code.code, user, now)


def steps(session, code) -> list[tuple[str, str]]:
    query = select(FunnelStep.step, FunnelStep.detail).where(FunnelStep.code_id == code.id)
    return sorted(tuple(row) for row in session.execute(query))


def batch_of(session, plan, now, size=3, **fields):
    batch, codes = create_codes(
        session,
        plan.project_id,
        CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=size, **fields),
        owner_id=plan.project.owner_id,
        now=now,
    )
    return batch, codes


def test_an_activation_records_opened_and_activated_with_its_time(session, redis, now):
    code = factories.make_code(factories.make_plan(factories.make_project()), now)
    result = enter(session, redis, code, factories.tg_user(), now)

    rows = session.scalars(select(FunnelStep).where(FunnelStep.code_id == code.id)).all()
    assert sorted((r.step, r.customer_id, r.at) for r in rows) == [
        ("activated", result.customer.id, now),
        ("opened", result.customer.id, now),
    ]


def test_each_refusal_is_recorded_by_its_reason_and_counted_once_per_person(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now, max_activations=1)
    ann, bob = factories.tg_user(), factories.tg_user()
    enter(session, redis, code, ann, now)
    for _ in range(2):
        with pytest.raises(CodeUsedUp):
            enter(session, redis, code, bob, now)
    with pytest.raises(AlreadyActivated):
        enter(session, redis, code, ann, now)

    assert steps(session, code) == [
        ("activated", ""),
        ("opened", ""),
        ("opened", ""),
        ("refused", "already_activated"),
        ("refused", "used_up"),
    ]
    tally = funnel.funnel_for(session, "plan", plan.id, plan)
    assert (tally.count("opened"), tally.count("activated")) == (2, 1)
    assert [(s.detail, s.count) for s in tally.refusals] == [
        ("already_activated", 1),
        ("used_up", 1),
    ]


def test_an_expired_code_and_a_rolled_back_one_are_refusals_of_those_codes(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    expired = factories.make_code(plan, now, expires_at=now + timedelta(hours=1))
    gone = factories.make_code(plan, now)
    rollback_code(session, plan.project_id, gone.id, owner_id=None, now=now)
    with pytest.raises(CodeExpired):
        enter(session, redis, expired, factories.tg_user(), now + timedelta(hours=2))
    with pytest.raises(Exception, match=gone.code):
        enter(session, redis, gone, factories.tg_user(), now)

    assert steps(session, expired) == [("opened", ""), ("refused", "expired")]
    assert steps(session, gone) == [("opened", ""), ("refused", "rolled_back")]


def test_a_customer_waiting_out_wrong_codes_is_a_refusal_of_the_code_they_came_with(
    session, redis, now
):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now)
    user = factories.tg_user()
    for n in range(5):
        with pytest.raises(Exception, match="NOPE"):
            code_entry.enter_code(session, redis, plan.project_id, f"NOPE{n}", user, now)
    with pytest.raises(TooManyAttempts):
        enter(session, redis, code, user, now)

    assert steps(session, code) == [("opened", ""), ("refused", "too_many_attempts")]
    # Codes that do not exist have no funnel.
    assert session.scalar(select(func.count()).select_from(FunnelStep)) == 2


def test_a_later_code_of_the_same_plan_is_a_renewal_of_the_first(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    first, second = factories.make_code(plan, now), factories.make_code(plan, now)
    user = factories.tg_user()
    enter(session, redis, first, user, now)
    enter(session, redis, second, user, now + timedelta(days=30))

    assert steps(session, first) == [("activated", ""), ("opened", ""), ("renewed", "")]
    assert steps(session, second) == [("activated", ""), ("opened", "")]
    renewed = funnel.people_at(session, "code", first.id, "renewed")
    assert [(p.customer.telegram_user_id, p.at) for p in renewed] == [
        (user.id, now + timedelta(days=30))
    ]


def test_joining_each_chat_with_ones_own_link_then_every_chat(session, redis, now):
    project = factories.make_project()
    channel, group = factories.make_resource(project, "Channel"), factories.make_resource(
        project, "Group", chat_type="supergroup"
    )
    plan = factories.make_plan(project, resources=[channel, group])
    code = factories.make_code(plan, now)
    user = factories.tg_user()
    customer = enter(session, redis, code, user, now).customer
    for n, resource in enumerate((channel, group), start=1):
        membership = memberships.membership_for(session, project.id, customer.id, resource.id)
        link = f"https://t.me/+{resource.id}"
        memberships.store_link(membership, link, now + timedelta(hours=24))
        memberships.record_join(
            session, project.id, resource.chat_id, user.id, link, now + timedelta(minutes=n)
        )
        if n == 1:
            assert ("all", "") not in steps(session, code)

    assert steps(session, code) == [
        ("activated", ""),
        ("all", ""),
        ("joined", str(channel.id)),
        ("joined", str(group.id)),
        ("opened", ""),
    ]
    shown = funnel.funnel_for(session, "code", code.id, plan)
    assert [(s.label, s.count) for s in shown.joins] == [("Channel", 1), ("Group", 1)]
    assert [(s.label, s.count) for s in shown.stages] == [
        ("Opened the link", 1),
        ("Activated", 1),
        ("Joined every chat", 1),
        ("Renewed", 0),
    ]


def test_reminded_ended_and_removed_are_steps_of_the_code_the_subscription_is_in(
    session, redis, now
):
    project = factories.make_project()
    plan = factories.make_plan(project, name="3 days", unit="day", count=3)
    code = factories.make_code(plan, now)
    sub = enter(session, redis, code, factories.tg_user(), now).subscription
    at = sub.ends_at - timedelta(hours=23)
    assert lifecycle.claim_reminder(session, sub.id, at)
    lifecycle.settle_reminder(session, sub.id, at, Outcome.done(), at)
    lifecycle.end_subscription(session, sub.id, sub.ends_at)
    [removal] = session.scalars(select(Removal).where(Removal.subscription_id == sub.id))
    assert lifecycle.claim_removal(session, removal.id, sub.ends_at)
    lifecycle.settle_removal(session, removal.id, sub.ends_at, Outcome.done(), sub.ends_at)

    assert steps(session, code) == [
        ("activated", ""),
        ("ended", "expired"),
        ("opened", ""),
        ("reminded", ""),
        ("removed", "expired"),
    ]
    later = funnel.funnel_for(session, "plan", plan.id, plan).later
    assert [(s.step, s.detail, s.count) for s in later] == [
        ("reminded", "", 1),
        ("ended", "expired", 1),
        ("removed", "expired", 1),
    ]


def test_a_rollback_ends_the_subscriptions_of_that_code(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now, max_activations=2)
    enter(session, redis, code, factories.tg_user(), now)
    enter(session, redis, code, factories.tg_user(), now)
    rollback_code(session, plan.project_id, code.id, owner_id=None, now=now)

    assert funnel.funnel_for(session, "code", code.id, plan).count("ended", "rolled_back") == 2


def test_batch_tallies_agree_with_its_rows_and_count_codes_opened_activated_unused(
    session, redis, now
):
    plan = factories.make_plan(factories.make_project())
    batch, codes = batch_of(session, plan, now, size=4)
    ann, bob = factories.tg_user(), factories.tg_user()
    enter(session, redis, codes[0], ann, now)
    with pytest.raises(CodeUsedUp):
        enter(session, redis, codes[0], bob, now)
    enter(session, redis, codes[1], bob, now)
    rollback_code(session, plan.project_id, codes[3].id, owner_id=None, now=now)

    use = funnel.batch_use(session, batch.id, now)
    assert (use.size, use.opened, use.activated, use.unused) == (4, 2, 2, 1)
    assert [c.id for c in funnel.unused_codes(session, batch.id, now)] == [codes[2].id]
    shown = funnel.funnel_for(session, "batch", batch.id, plan)
    rows = dict(
        tuple(row)
        for row in session.execute(
            select(FunnelStep.step, func.count())
            .where(FunnelStep.batch_id == batch.id)
            .group_by(FunnelStep.step)
        )
    )
    tallied = dict(
        tuple(row)
        for row in session.execute(
            select(FunnelTally.step, func.sum(FunnelTally.count))
            .where(FunnelTally.scope == "batch", FunnelTally.scope_id == batch.id)
            .group_by(FunnelTally.step)
        )
    )
    assert tallied == rows == {"opened": 3, "activated": 2, "refused": 1}
    assert [(s.step, s.count) for s in shown.stages][:2] == [("opened", 3), ("activated", 2)]
    assert [round(s.rate, 2) for s in shown.stages[1:2]] == [0.67]


def test_a_refusal_named_after_a_new_kind_of_refusal_reads_from_its_class():
    class CodePaused(CodeUsedUp.__bases__[0]):
        pass

    assert funnel.refusal_reason(CodePaused("x")) == "paused"
    assert funnel.refusal_reason(CodeUsedUp("x")) == "used_up"


def test_the_people_at_a_step_of_a_plan_come_off_the_end_of_its_index(session, redis, now):
    """On a million steps the page reads 200 index entries, not the plan's rows: the plan of
    the query is the proof (sequential scans off, as the test table is tiny)."""
    plan = factories.make_plan(factories.make_project())
    for _ in range(3):
        enter(session, redis, factories.make_code(plan, now), factories.tg_user(), now)
    session.flush()
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the plan that matters is PostgreSQL's")
    session.execute(text("ANALYZE funnel_step"))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    # On three rows the planner may also merge-join the customers (sorting by customer, then by
    # time again, as seen once in CI); on a million steps, 200 rows wanted off an index, never.
    session.execute(text("SET LOCAL enable_mergejoin = off"))
    session.execute(text("SET LOCAL enable_hashjoin = off"))
    query = funnel.people_query("plan", plan.id, "activated", "")
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    report = "\n".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))
    assert "ix_funnel_step_plan" in report, report
    assert "Sort" not in report, report
    assert len(funnel.people_at(session, "plan", plan.id, "activated")) == 3
