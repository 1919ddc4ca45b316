"""The bot's domain: wrong-code counter, code entry, memberships, resources, /newcode."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.domain import attempts, code_entry, memberships, newcode_wizard, resources
from webapp.domain.errors import (
    AlreadyActivated,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    UnknownCode,
)
from webapp.models import AccessCode, Activation, BotConversation, Customer, Membership, Resource
from webapp.queues import get_redis


@pytest.fixture
def redis(app_ctx):
    return get_redis()


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# ---- wrong-code counter ------------------------------------------------------------------------


def test_five_wrong_codes_within_ten_minutes_make_the_sixth_try_wait(redis, now):
    for minute in range(5):
        attempts.record_wrong_attempt(redis, 1, 5001, now + timedelta(minutes=minute))
    later = now + timedelta(minutes=5)

    with pytest.raises(TooManyAttempts) as refused:
        attempts.check_attempts(redis, 1, 5001, later)

    # The oldest miss leaves the window 10 minutes after it happened: 5 minutes from "later".
    assert refused.value.retry_after_seconds == 300
    attempts.check_attempts(redis, 1, 5001, now + timedelta(minutes=10, seconds=1))


def test_wrong_codes_are_counted_per_customer_and_project(redis, now):
    for _ in range(5):
        attempts.record_wrong_attempt(redis, 1, 5001, now)
    attempts.check_attempts(redis, 1, 5002, now)
    attempts.check_attempts(redis, 2, 5001, now)


def test_misses_older_than_ten_minutes_do_not_count(redis, now):
    for _ in range(4):
        attempts.record_wrong_attempt(redis, 1, 5001, now - timedelta(minutes=11))
    assert attempts.record_wrong_attempt(redis, 1, 5001, now) == 1
    attempts.check_attempts(redis, 1, 5001, now)


# ---- code entry --------------------------------------------------------------------------------


def test_entering_a_code_activates_it_and_ends_the_typed_code_step(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now)
    user = factories.tg_user()
    code_entry.begin_typed_code(session, plan.project_id, user, plan.id)
    assert code_entry.awaiting_code(session, plan.project_id, user.id)

    result = code_entry.enter_code(
        session, redis, plan.project_id, f"  {code.code.lower()} ", user, now
    )

    assert result.customer.pending_step is None
    assert not code_entry.awaiting_code(session, plan.project_id, user.id)
    [membership] = session.scalars(select(Membership)).all()
    assert membership.resource_id == plan.resources[0].id
    assert membership.invite_link is None


@pytest.mark.parametrize("raw", ["NOPE-NOPE-NOPE", "A" * 65, "K7QF;DROP", "x" * 5000, ""])
def test_unknown_or_malformed_codes_count_as_wrong_attempts_and_change_nothing(
    session, redis, now, raw
):
    plan = factories.make_plan(factories.make_project())
    user = factories.tg_user()

    with pytest.raises(UnknownCode) as refused:
        code_entry.enter_code(session, redis, plan.project_id, raw, user, now)

    assert refused.value.wrong_attempts == 1
    assert count(session, Activation) == 0


def test_a_customer_who_must_wait_is_refused_before_the_code_is_looked_at(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now)
    user = factories.tg_user()
    for _ in range(5):
        attempts.record_wrong_attempt(redis, plan.project_id, user.id, now)

    with pytest.raises(TooManyAttempts):
        code_entry.enter_code(session, redis, plan.project_id, code.code, user, now)
    assert count(session, Activation) == 0


def test_a_used_up_or_repeated_code_is_not_a_wrong_attempt(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now)
    user = factories.tg_user()
    code_entry.enter_code(session, redis, plan.project_id, code.code, user, now)

    with pytest.raises(AlreadyActivated):
        code_entry.enter_code(session, redis, plan.project_id, code.code, user, now)
    assert attempts.record_wrong_attempt(redis, plan.project_id, user.id, now) == 1


def test_existing_access_gives_back_the_plan_of_an_activated_code(session, redis, now):
    plan = factories.make_plan(factories.make_project())
    code = factories.make_code(plan, now)
    user = factories.tg_user()
    code_entry.enter_code(session, redis, plan.project_id, code.code, user, now)

    access = code_entry.existing_access(session, plan.project_id, code.code, user.id, now)

    assert access.plan.id == plan.id
    assert access.resources == plan.resources
    after_end = access.subscription.ends_at + timedelta(seconds=1)
    ended = code_entry.existing_access(session, plan.project_id, code.code, user.id, after_end)
    assert ended.subscription is None and ended.resources == []


def test_a_typed_code_step_needs_a_live_plan_of_the_project(session):
    plan = factories.make_plan(factories.make_project())
    other = factories.make_plan(factories.make_project())
    user = factories.tg_user()
    with pytest.raises(NotFound):
        code_entry.begin_typed_code(session, plan.project_id, user, other.id)
    plan.archived_at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(NotFound):
        code_entry.begin_typed_code(session, plan.project_id, user, plan.id)
    assert count(session, Customer) == 0
    assert code_entry.offered_plans(session, plan.project_id) == []


# ---- memberships -------------------------------------------------------------------------------


def _customer_in(session, plan, now, user=None):
    code = factories.make_code(plan, now)
    user = user or factories.tg_user()
    from webapp.domain.activation import activate_code

    return activate_code(session, plan.project_id, code.code, user, now).customer


def test_a_stored_link_is_reused_until_used_or_nearly_expired(session, now):
    plan = factories.make_plan(factories.make_project())
    customer = _customer_in(session, plan, now)
    membership = memberships.membership_for(session, plan.project_id, customer.id,
                                            plan.resources[0].id)
    assert memberships.usable_link(membership, now) is None

    memberships.store_link(membership, "https://t.me/+abc", now + timedelta(hours=24))

    assert memberships.usable_link(membership, now) == "https://t.me/+abc"
    assert memberships.usable_link(membership, now + timedelta(hours=23, minutes=30)) is None
    membership.joined_at = now
    assert memberships.usable_link(membership, now) is None


def test_a_new_link_replaces_the_one_read_and_says_which_to_revoke(session, now):
    plan = factories.make_plan(factories.make_project())
    customer = _customer_in(session, plan, now)
    membership = memberships.membership_for(session, plan.project_id, customer.id,
                                            plan.resources[0].id)
    memberships.store_link(membership, "https://t.me/+old", now + timedelta(minutes=30))
    session.commit()

    stored = memberships.store_new_link(session, membership.id, "https://t.me/+old",
                                        "https://t.me/+new", now + timedelta(hours=24), now)

    assert stored == memberships.StoredLink("https://t.me/+new", to_revoke="https://t.me/+old")
    session.refresh(membership)
    assert membership.invite_link == "https://t.me/+new"


def test_a_link_stored_meanwhile_by_someone_else_is_kept_and_ours_revoked(session, now):
    plan = factories.make_plan(factories.make_project())
    customer = _customer_in(session, plan, now)
    membership = memberships.membership_for(session, plan.project_id, customer.id,
                                            plan.resources[0].id)
    # We read no link; the join-link job stored one before our write.
    memberships.store_link(membership, "https://t.me/+theirs", now + timedelta(hours=24))
    session.commit()

    stored = memberships.store_new_link(session, membership.id, None, "https://t.me/+ours",
                                        now + timedelta(hours=24), now)

    assert stored == memberships.StoredLink("https://t.me/+theirs", to_revoke="https://t.me/+ours")
    session.refresh(membership)
    assert membership.invite_link == "https://t.me/+theirs"


@pytest.fixture
def channel(emulator, session, now):
    """A project whose bot administers a channel in the emulator; a customer with access to it."""
    bot_id = 880001
    token = f"{bot_id}:LINKS-test"
    emulator.add_bot(token, "LinksBot", "Links")
    emulator.add_user(5101, "Ann")
    emulator.add_user(5102, "Bob")
    emulator.add_chat(-1009900000001, "channel", "Gold Club Channel")
    emulator.set_chat_admin(-1009900000001, bot_id, can_invite_users=True)
    project = factories.make_project(bot_token=token, bot_user_id=bot_id)
    resource = factories.make_resource(project, chat_id=-1009900000001)
    plan = factories.make_plan(project, resources=[resource])
    customer = _customer_in(session, plan, now, factories.tg_user(5101))
    session.commit()
    return project.id, customer.id, resource.id


def test_a_nearly_expired_link_replaced_by_a_new_one_no_longer_admits(
    emulator, session, now, channel
):
    from bot.join_links import issue_join_links

    project_id, customer_id, resource_id = channel
    [(_, first)] = issue_join_links(session, project_id, customer_id, [resource_id], now).links
    later = now + timedelta(hours=23, minutes=30)  # under an hour left: a new link is made

    [(_, second)] = issue_join_links(session, project_id, customer_id, [resource_id], later).links

    assert second != first
    assert emulator.open_invite_link(5102, first) == "refused:revoked"
    assert emulator.open_invite_link(5101, second) == "joined"


def test_racing_link_makers_leave_one_recorded_link_and_revoke_the_other(
    emulator, session, now, channel, monkeypatch
):
    from bot.join_links import issue_join_links
    from webapp import telegram

    project_id, customer_id, resource_id = channel
    real_create = telegram.create_invite_link
    theirs, ours = [], []

    def create_while_the_job_stores_its_own(token, chat_id, **kwargs):
        if not theirs:  # the job makes and stores its link while ours is being made
            theirs.append(real_create(token, chat_id, **kwargs))
            membership = memberships.membership_for(session, project_id, customer_id,
                                                    resource_id)
            memberships.store_link(membership, theirs[0], now + timedelta(hours=24))
            session.commit()
        ours.append(real_create(token, chat_id, **kwargs))
        return ours[-1]

    monkeypatch.setattr(telegram, "create_invite_link", create_while_the_job_stores_its_own)

    [(_, link)] = issue_join_links(session, project_id, customer_id, [resource_id], now).links

    assert link == theirs[0]
    assert emulator.open_invite_link(5102, ours[0]) == "refused:revoked"
    assert emulator.open_invite_link(5101, link) == "joined"


def test_a_join_through_the_customers_own_link_is_recorded(session, now):
    plan = factories.make_plan(factories.make_project())
    resource = plan.resources[0]
    customer = _customer_in(session, plan, now)
    membership = memberships.membership_for(session, plan.project_id, customer.id, resource.id)
    memberships.store_link(membership, "https://t.me/+ann", now + timedelta(hours=24))

    event = memberships.record_join(
        session, plan.project_id, resource.chat_id, customer.telegram_user_id,
        "https://t.me/+ann", now,
    )

    assert (event.unwelcome, event.spent_link) == (None, "https://t.me/+ann")
    assert event.membership.joined_at == now
    memberships.record_leave(session, plan.project_id, resource.chat_id,
                             customer.telegram_user_id, now + timedelta(hours=1))
    assert membership.left_at == now + timedelta(hours=1)


def test_a_stranger_joining_through_a_customers_link_is_an_intruder(session, now):
    plan = factories.make_plan(factories.make_project())
    resource = plan.resources[0]
    customer = _customer_in(session, plan, now)
    membership = memberships.membership_for(session, plan.project_id, customer.id, resource.id)
    memberships.store_link(membership, "https://t.me/+ann", now + timedelta(hours=24))

    event = memberships.record_join(
        session, plan.project_id, resource.chat_id, 777, "https://t.me/+ann", now
    )

    assert event.unwelcome == "someone_elses_link"
    assert membership.invite_link is None  # the customer gets a fresh link next time
    owners_link = memberships.record_join(session, plan.project_id, resource.chat_id, 778,
                                          "https://t.me/+owners-own-link", now)
    assert (owners_link.unwelcome, owners_link.spent_link) == (None, None)


def test_a_customer_whose_access_ended_cannot_come_in_with_their_old_link(session, now):
    plan = factories.make_plan(factories.make_project())
    resource = plan.resources[0]
    customer = _customer_in(session, plan, now)
    membership = memberships.membership_for(session, plan.project_id, customer.id, resource.id)
    memberships.store_link(membership, "https://t.me/+ann", now + timedelta(hours=24))
    after_end = now + timedelta(days=200)

    event = memberships.record_join(session, plan.project_id, resource.chat_id,
                                    customer.telegram_user_id, "https://t.me/+ann", after_end)

    assert event.unwelcome == "no_access"


def test_a_pasted_generated_code_is_recognised_without_the_typed_code_step(now):
    from webapp.domain.codes import generate_code

    code = generate_code()
    assert code_entry.looks_like_generated_code(code)
    assert code_entry.looks_like_generated_code(code.lower().replace("-", " "))
    assert not code_entry.looks_like_generated_code("hello there")
    assert not code_entry.looks_like_generated_code("K7QF-M2XD-9PRT")  # too short


def test_join_requests_are_for_entitled_customers_only(session, now):
    plan = factories.make_plan(factories.make_project())
    resource = plan.resources[0]
    customer = _customer_in(session, plan, now)

    assert memberships.may_join(session, plan.project_id, resource.chat_id,
                                customer.telegram_user_id, now)
    assert not memberships.may_join(session, plan.project_id, resource.chat_id, 999, now)
    far_future = now + timedelta(days=400)
    assert not memberships.may_join(session, plan.project_id, resource.chat_id,
                                    customer.telegram_user_id, far_future)
    assert memberships.may_join(session, plan.project_id, -1, 999, now) is None


def test_invite_link_names_fit_telegrams_32_characters(session, now):
    customer = Customer(project_id=1, telegram_user_id=5001, username="a" * 40)
    assert len(memberships.link_name(customer)) == 32


# ---- resources ---------------------------------------------------------------------------------


OWNER_TG = 4242


def _owned_project():
    """A project whose owner linked Telegram account OWNER_TG (who promotes the bot below)."""
    return factories.make_project(factories.make_owner(telegram_user_id=OWNER_TG))


def _change(chat_id=-100123, status="administrator", **fields):
    return resources.BotStatusChange(
        chat_id=chat_id,
        chat_type=fields.pop("chat_type", "channel"),
        title=fields.pop("title", "Gold Club Channel"),
        username=None,
        new_status=status,
        can_invite_users=fields.pop("can_invite_users", True),
        can_restrict_members=fields.pop("can_restrict_members", True),
        by_user_id=fields.pop("by_user_id", OWNER_TG),
    )


def test_the_bot_made_administrator_makes_the_chat_a_resource_with_its_rights(session, now):
    project = _owned_project()

    change = resources.apply_bot_status(
        session, project.id, _change(can_restrict_members=False), now
    )

    assert change.kind == "added"
    assert change.missing_rights == ("ban users",)
    resource = session.scalars(select(Resource)).one()
    assert (resource.chat_id, resource.can_invite_users, resource.is_usable) == (
        -100123, True, False,
    )
    again = resources.apply_bot_status(session, project.id, _change(), now)
    assert (again.kind, again.missing_rights, resource.is_usable) == ("updated", (), True)


def test_the_bot_removed_or_demoted_marks_the_resource_unusable(session, now):
    project = _owned_project()
    resources.apply_bot_status(session, project.id, _change(), now)

    lost = resources.apply_bot_status(session, project.id, _change(status="kicked"), now)

    assert lost.kind == "lost"
    assert not lost.resource.bot_is_admin and not lost.resource.is_usable
    assert resources.apply_bot_status(session, project.id, _change(status="left"), now).kind == (
        "none"
    )
    back = resources.apply_bot_status(session, project.id, _change(), now)
    assert back.kind == "added" and back.resource.is_usable


def test_the_bot_added_without_admin_rights_is_not_a_resource_yet(session, now):
    project = _owned_project()
    change = resources.apply_bot_status(session, project.id, _change(status="member"), now)
    assert (change.kind, change.resource) == ("not_admin", None)
    assert count(session, Resource) == 0


def test_private_chats_and_unknown_chats_are_not_resources(session, now):
    project = _owned_project()
    assert resources.apply_bot_status(
        session, project.id, _change(chat_type="private", chat_id=5001), now
    ).kind == "none"
    assert resources.apply_bot_status(session, project.id, _change(status="kicked"), now).kind == (
        "none"
    )
    assert count(session, Resource) == 0


def test_a_customer_blocking_the_bot_is_remembered(session, now):
    plan = factories.make_plan(factories.make_project())
    customer = _customer_in(session, plan, now)
    resources.set_bot_blocked(session, plan.project_id, customer.telegram_user_id, True, now)
    assert customer.blocked_bot_at == now
    resources.set_bot_blocked(session, plan.project_id, customer.telegram_user_id, False, now)
    assert customer.blocked_bot_at is None


# ---- /newcode ----------------------------------------------------------------------------------


@pytest.fixture
def owned(session):
    owner = factories.make_owner(telegram_user_id=4242)
    project = factories.make_project(owner)
    plan = factories.make_plan(project)
    return owner, project, plan


def test_newcode_walks_plan_activations_expiry_and_makes_a_single_code(session, now, owned):
    owner, project, plan = owned

    step = newcode_wizard.start(session, project.id, 4242, now)
    assert step.step == "plan" and step.choices == [(str(plan.id), plan.name)]
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "plan", str(plan.id), now)
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "max", "10", now)
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "expiry", "1w", now)
    assert (step.step, step.max_activations, step.expires_at) == (
        "kind", 10, now + timedelta(weeks=1),
    )
    done = newcode_wizard.choose(session, project.id, 4242, step.nonce, "kind", "single", now)

    [code] = done.codes
    assert (code.max_activations, code.expires_at, done.batch) == (10, now + timedelta(weeks=1),
                                                                   None)
    assert count(session, BotConversation) == 0


def test_newcode_with_several_projects_asks_for_the_project_first(session, now, owned):
    owner, project, _ = owned
    second = factories.make_project(owner, name="Trading Signals")
    factories.make_plan(second, name="1 year", unit="month", count=12)

    step = newcode_wizard.start(session, project.id, 4242, now)

    assert step.step == "project"
    assert [label for _, label in step.choices] == ["Gold Club", "Trading Signals"]
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "project",
                                 str(second.id), now)
    assert step.choices[0][1] == "1 year"


def test_newcode_typed_values_are_checked_and_a_bulk_makes_a_batch(session, now, owned):
    owner, project, plan = owned
    step = newcode_wizard.start(session, project.id, 4242, now)
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "plan", str(plan.id), now)
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "max", "other", now)
    for bad in ("", "ten", "0", "-3", "1.5e3", "99999999999"):
        with pytest.raises(InvalidInput):
            newcode_wizard.answer_text(session, project.id, 4242, bad, now)
    step = newcode_wizard.answer_text(session, project.id, 4242, "1,000", now)
    assert step.max_activations == 1000
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "expiry", "date", now)
    year = now.year + 1
    yesterday = (now - timedelta(days=1)).strftime("%Y-%m-%d")
    for bad in ("tomorrow", f"{year}-02-30", yesterday):
        with pytest.raises(InvalidInput):
            newcode_wizard.answer_text(session, project.id, 4242, bad, now)
    step = newcode_wizard.answer_text(session, project.id, 4242, f"{year}-02-26", now)
    assert step.expires_at == datetime(year, 2, 27, tzinfo=UTC)
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "kind", "bulk", now)
    with pytest.raises(InvalidInput):
        newcode_wizard.answer_text(session, project.id, 4242, "501", now)
    assert count(session, AccessCode) == 0

    done = newcode_wizard.answer_text(session, project.id, 4242, "250", now)

    assert len(done.codes) == 250 and done.batch.size == 250
    assert newcode_wizard.answer_text(session, project.id, 4242, "more", now) is None


def test_a_custom_expiry_date_is_read_in_the_owners_time_zone(now):
    year = now.year + 1
    expires = newcode_wizard.parse_expiry_date(f"{year}-02-26 09:30", "Europe/Berlin", now)
    assert expires == datetime(year, 2, 26, 8, 30, tzinfo=UTC)  # CET is UTC+1


def test_newcode_refuses_anyone_but_the_linked_owner(session, now, owned):
    _, project, _ = owned
    with pytest.raises(newcode_wizard.NotAnOwner):
        newcode_wizard.start(session, project.id, 5555, now)
    assert count(session, BotConversation) == 0


@pytest.mark.parametrize(
    "step_name, value",
    [("plan", "999999"), ("plan", "abc"), ("max", "7"), ("expiry", "10y"), ("kind", "many"),
     ("max", "10"), ("nonsense", "1")],
)
def test_stale_or_tampered_buttons_change_nothing(session, now, owned, step_name, value):
    _, project, plan = owned
    other_plan = factories.make_plan(factories.make_project())
    step = newcode_wizard.start(session, project.id, 4242, now)
    if value == "999999":
        value = str(other_plan.id)  # a real plan, of somebody else's project
    before = dict(session.scalars(select(BotConversation)).one().state)

    with pytest.raises(newcode_wizard.WizardGone):
        newcode_wizard.choose(session, project.id, 4242, step.nonce, step_name, value, now)
    with pytest.raises(newcode_wizard.WizardGone):
        newcode_wizard.choose(session, project.id, 4242, "oldnonce", "plan", str(plan.id), now)

    assert session.scalars(select(BotConversation)).one().state == before
    assert count(session, AccessCode) == 0


def test_a_finished_or_abandoned_wizard_ignores_its_old_buttons(session, now, owned):
    _, project, plan = owned
    step = newcode_wizard.start(session, project.id, 4242, now)
    nonce = step.nonce
    assert newcode_wizard.cancel(session, project.id, 4242)
    with pytest.raises(newcode_wizard.WizardGone):
        newcode_wizard.choose(session, project.id, 4242, nonce, "plan", str(plan.id), now)

    step = newcode_wizard.start(session, project.id, 4242, now)
    a_day_later = now + timedelta(hours=25)
    with pytest.raises(newcode_wizard.WizardGone):
        newcode_wizard.choose(session, project.id, 4242, step.nonce, "plan", str(plan.id),
                              a_day_later)


def test_newcode_for_a_project_without_plans_says_so(session, now):
    owner = factories.make_owner(telegram_user_id=4343)
    project = factories.make_project(owner)
    with pytest.raises(newcode_wizard.NoPlans):
        newcode_wizard.start(session, project.id, 4343, now)
    assert count(session, BotConversation) == 0


def test_newcode_reads_through_the_session_it_is_given(session, now, owned, monkeypatch):
    from webapp.extensions import db

    _, project, plan = owned

    class NoGlobalSession:
        def __getattr__(self, name):
            raise AssertionError(f"the wizard used the global db.session ({name})")

    monkeypatch.setattr(db, "session", NoGlobalSession())
    step = newcode_wizard.start(session, project.id, 4242, now)
    step = newcode_wizard.choose(session, project.id, 4242, step.nonce, "plan", str(plan.id), now)

    assert (step.step, step.project_name, step.plan_name) == ("max", project.name, plan.name)


def test_newcode_shows_the_expiry_in_the_owners_time_zone_as_typed(session, now):
    from bot import texts

    owner = factories.make_owner(telegram_user_id=4444, timezone="Europe/Berlin")
    project = factories.make_project(owner)
    plan = factories.make_plan(project)
    step = newcode_wizard.start(session, project.id, 4444, now)
    step = newcode_wizard.choose(session, project.id, 4444, step.nonce, "plan", str(plan.id), now)
    step = newcode_wizard.choose(session, project.id, 4444, step.nonce, "max", "1", now)
    step = newcode_wizard.choose(session, project.id, 4444, step.nonce, "expiry", "date", now)

    year = now.year + 1
    step = newcode_wizard.answer_text(session, project.id, 4444, f"{year}-02-26 09:30", now)

    assert step.expires_at == datetime(year, 2, 26, 8, 30, tzinfo=UTC)
    assert f"expires 26 Feb {year}, 09:30 (Europe/Berlin)" in texts.newcode_prompt(step)
    done = newcode_wizard.choose(session, project.id, 4444, step.nonce, "kind", "single", now)
    [code] = done.codes
    confirmation = texts.newcode_single(project.bot_username, code.code, code.expires_at,
                                        code.max_activations, done.timezone)
    assert f"expires 26 Feb {year}, 09:30 (Europe/Berlin)" in confirmation
    assert "(UTC)" not in confirmation
