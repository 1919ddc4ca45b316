"""What is due: reminders a day before the end, and ends — found by an index, not a scan."""

from datetime import timedelta

from sqlalchemy import insert, select, text

from tests.factories import make_code, make_plan, make_project, make_resource, tg_user
from webapp.domain.activation import activate_code
from webapp.domain.lifecycle import (
    claim_reminder,
    due_reminder_ids,
    end_subscription,
    ended_subscription_ids,
)
from webapp.models import Customer, Membership, Removal, Subscription


def subscribe(session, plan, now, user=None):
    code = make_code(plan, now)
    return activate_code(session, plan.project_id, code.code, user or tg_user(), now).subscription


def test_reminder_is_due_within_24_hours_of_the_end_and_not_before(session, now):
    sub = subscribe(session, make_plan(make_project(), unit="day", count=3), now)
    end = sub.ends_at
    assert due_reminder_ids(session, end - timedelta(hours=24, seconds=1)) == []
    assert due_reminder_ids(session, end - timedelta(hours=24)) == [sub.id]
    assert due_reminder_ids(session, end - timedelta(seconds=1)) == [sub.id]
    assert due_reminder_ids(session, end) == []


def test_a_reminder_is_claimed_once_per_end_and_again_after_an_extension(session, now):
    plan = make_plan(make_project(), unit="day", count=3)
    user = tg_user()
    sub = subscribe(session, plan, now, user)
    at = sub.ends_at - timedelta(hours=23)
    assert claim_reminder(session, sub.id, at) is True
    assert claim_reminder(session, sub.id, at) is False
    assert due_reminder_ids(session, at) == []

    subscribe(session, plan, at, user)  # extended by another code after the reminder
    session.refresh(sub)
    new_at = sub.ends_at - timedelta(hours=23)
    assert due_reminder_ids(session, new_at) == [sub.id]
    assert claim_reminder(session, sub.id, new_at) is True


def test_lifetime_subscriptions_are_never_due(session, now):
    subscribe(session, make_plan(make_project(), unit="lifetime"), now)
    far = now + timedelta(days=36500)
    assert due_reminder_ids(session, far) == [] and ended_subscription_ids(session, far) == []


def test_ended_subscription_is_due_at_its_end_and_ends_once(session, now):
    project = make_project()
    channel = make_resource(project, "Channel A")
    sub = subscribe(session, make_plan(project, unit="day", count=1, resources=[channel]), now)
    assert ended_subscription_ids(session, sub.ends_at - timedelta(seconds=1)) == []
    assert ended_subscription_ids(session, sub.ends_at) == [sub.id]

    decision = end_subscription(session, sub.id, sub.ends_at)

    assert [r.id for r in decision.remove] == [channel.id]
    assert end_subscription(session, sub.id, sub.ends_at) is None
    assert ended_subscription_ids(session, sub.ends_at) == []
    removal = session.scalars(select(Removal)).one()
    assert (removal.reason, removal.status, removal.resource_id) == (
        "expired",
        "pending",
        channel.id,
    )


def test_ending_keeps_resources_another_active_subscription_covers(session, now):
    project = make_project()
    channel, chat = make_resource(project, "Channel"), make_resource(project, "Chat")
    user = tg_user()
    short = subscribe(
        session, make_plan(project, unit="day", count=1, resources=[channel, chat]), now, user
    )
    subscribe(session, make_plan(project, unit="month", count=1, resources=[chat]), now, user)

    decision = end_subscription(session, short.id, short.ends_at)

    assert [r.title for r in decision.remove] == ["Channel"]
    assert [r.title for r in decision.keep] == ["Chat"]


def test_due_queries_use_the_open_subscription_index(session, now):
    """With many open subscriptions, finding the ended ones is a range scan on ``ends_at``."""
    plan = make_plan(make_project(), unit="day", count=30)
    rows = 20_000
    session.execute(
        insert(Customer),
        [{"project_id": plan.project_id, "telegram_user_id": 10_000 + i} for i in range(rows)],
    )
    customer_ids = session.scalars(select(Customer.id).order_by(Customer.id)).all()
    session.execute(
        insert(Subscription),
        [
            {
                "project_id": plan.project_id,
                "customer_id": customer_id,
                "plan_id": plan.id,
                "started_at": now,
                # A few hundred ended ones among thousands still running.
                "ends_at": now + timedelta(minutes=i - 300),
            }
            for i, customer_id in enumerate(customer_ids)
        ],
    )
    query = select(Subscription.id).where(
        Subscription.ended_at.is_(None),
        Subscription.ends_at.is_not(None),
        Subscription.ends_at <= now,
    )
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE subscription"))
        plan_text = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    else:
        session.execute(text("ANALYZE"))
        plan_text = "\n".join(
            str(row) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        )
    assert "ix_subscription_open_ends_at" in plan_text
    assert len(ended_subscription_ids(session, now, limit=rows)) == 301


def test_a_chat_dropped_from_the_plan_after_joining_is_still_left_at_the_end(session, now):
    project = make_project()
    channel, chat = make_resource(project, "Channel"), make_resource(project, "Chat")
    plan = make_plan(project, unit="day", count=1, resources=[channel, chat])
    sub = subscribe(session, plan, now)
    for resource in (channel, chat):
        session.add(
            Membership(
                project_id=project.id, customer_id=sub.customer_id, resource_id=resource.id
            )
        )
    plan.resources = [channel]  # the owner edits the plan while the customer is in both
    session.flush()

    decision = end_subscription(session, sub.id, sub.ends_at)

    assert sorted(r.title for r in decision.remove) == ["Channel", "Chat"]


def test_access_of_a_day_or_less_gets_no_reminder_right_after_activation(session, now):
    one_day = subscribe(session, make_plan(make_project(), unit="day", count=1), now)
    two_days = subscribe(session, make_plan(make_project(), unit="day", count=2), now)
    for moment in (now, now + timedelta(hours=12), now + timedelta(hours=23, minutes=59)):
        assert one_day.id not in due_reminder_ids(session, moment)
    assert due_reminder_ids(session, two_days.ends_at - timedelta(hours=23)) == [two_days.id]
