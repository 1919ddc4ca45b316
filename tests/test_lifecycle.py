"""The access lifecycle in the domain, with ``now`` passed in: claims, leases, settling, texts."""

from datetime import timedelta

from sqlalchemy import select

from tests.factories import make_code, make_plan, make_project, make_resource, tg_user
from webapp.domain import lifecycle, notices, owner_texts
from webapp.domain.activation import activate_code
from webapp.domain.lifecycle import LEASE, Outcome
from webapp.domain.memberships import membership_for
from webapp.domain.rollback import rollback_code
from webapp.models import Customer, Removal


def subscribe(session, plan, now, user=None):
    code = make_code(plan, now)
    return activate_code(session, plan.project_id, code.code, user or tg_user(), now).subscription


def day_plan(project=None, resources=None, **fields):
    project = project or make_project()
    return make_plan(project, name="3 days", unit="day", count=3, resources=resources, **fields)


# -- Reminders ---------------------------------------------------------------------------------


def test_only_one_of_two_claims_of_a_reminder_wins(session, now):
    sub = subscribe(session, day_plan(), now)
    at = sub.ends_at - timedelta(hours=23)
    assert lifecycle.claim_reminder(session, sub.id, at) is True
    assert lifecycle.claim_reminder(session, sub.id, at) is False
    assert lifecycle.due_reminder_ids(session, at + LEASE - timedelta(seconds=1)) == []


def test_a_claim_whose_job_died_before_settling_is_due_again_when_its_lease_runs_out(session, now):
    sub = subscribe(session, day_plan(), now)
    at = sub.ends_at - timedelta(hours=23)
    assert lifecycle.claim_reminder(session, sub.id, at)
    # ... the worker is killed here: nothing is settled ...
    assert lifecycle.due_reminder_ids(session, at + LEASE) == [sub.id]
    assert lifecycle.claim_reminder(session, sub.id, at + LEASE) is True


def test_a_sent_reminder_is_never_due_again_for_the_same_end(session, now):
    sub = subscribe(session, day_plan(), now)
    at = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, at)
    assert lifecycle.settle_reminder(session, sub.id, at, Outcome.done(), at) is True
    session.refresh(sub)
    assert sub.reminder_sent_at == at and sub.reminder_lease_until is None
    for later in (at + LEASE, at + timedelta(hours=22, minutes=59)):
        assert lifecycle.due_reminder_ids(session, later) == []
        assert lifecycle.claim_reminder(session, sub.id, later) is False


def test_a_superseded_job_settling_late_changes_nothing(session, now):
    sub = subscribe(session, day_plan(), now)
    first = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, first)
    second = first + LEASE
    lifecycle.claim_reminder(session, sub.id, second)  # the first job's lease ran out
    assert lifecycle.settle_reminder(session, sub.id, first, Outcome.done(), second) is False
    session.refresh(sub)
    assert sub.reminder_sent_at is None and sub.reminder_lease_until == second + LEASE


def test_a_reminder_that_could_not_get_through_is_due_again_at_its_retry_time(session, now):
    sub = subscribe(session, day_plan(), now)
    at = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, at)
    retry_at = at + timedelta(minutes=2)
    outcome = Outcome.retry(retry_at, "Telegram did not answer")
    assert lifecycle.settle_reminder(session, sub.id, at, outcome, at)
    assert lifecycle.due_reminder_ids(session, retry_at - timedelta(seconds=1)) == []
    assert lifecycle.due_reminder_ids(session, retry_at) == [sub.id]


def test_a_customer_who_blocked_the_bot_is_recorded_and_not_reminded_again(session, now):
    sub = subscribe(session, day_plan(), now)
    at = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, at)
    blocked = Outcome.failed(lifecycle.BLOCKED_ERROR, blocked=True)
    assert lifecycle.settle_reminder(session, sub.id, at, blocked, at)
    session.refresh(sub)
    assert session.get(Customer, sub.customer_id, populate_existing=True).blocked_bot_at == at
    assert sub.reminder_error == "the customer has blocked the bot"
    assert lifecycle.due_reminder_ids(session, at + timedelta(hours=1)) == []
    labels = lifecycle.subscription_status(sub, [], at)
    assert [(x.kind, x.text) for x in labels] == [
        ("reminder_failed", "Reminder not delivered: the customer has blocked the bot")
    ]


def test_an_extension_after_the_reminder_brings_a_new_reminder_before_the_new_end(session, now):
    plan, user = day_plan(), tg_user()
    sub = subscribe(session, plan, now, user)
    at = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, at)
    lifecycle.settle_reminder(session, sub.id, at, Outcome.done(), at)
    subscribe(session, plan, at, user)  # a second code extends it by 3 days
    session.refresh(sub)
    assert lifecycle.due_reminder_ids(session, at + timedelta(hours=1)) == []
    new_at = sub.ends_at - timedelta(hours=23)
    assert lifecycle.due_reminders(session, new_at) == [(sub.id, sub.ends_at)]
    assert lifecycle.claim_reminder(session, sub.id, new_at) is True


def test_lifetime_plans_get_no_reminder_and_never_end(session, now):
    sub = subscribe(session, make_plan(make_project(), unit="lifetime"), now)
    for later in (now + timedelta(days=1), now + timedelta(days=40000)):
        assert lifecycle.due_reminder_ids(session, later) == []
        assert lifecycle.claim_reminder(session, sub.id, later) is False
        assert lifecycle.ended_subscription_ids(session, later) == []


def test_the_reminder_names_the_plan_its_end_and_the_owners_renewal_text(session, now):
    project = make_project(name="Gold <Club>")
    plan = day_plan(project, renewal_text="renew at https://pay.example/gold?a=1&b=2")
    sub = subscribe(session, plan, now)
    at = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, at)
    message = lifecycle.reminder_message(session, sub.id, at)
    assert message.chat_id == sub.customer.telegram_user_id
    assert message.bot_token == project.bot_token
    assert message.text == (
        "⏰ Your access to <b>Gold &lt;Club&gt;, 3 days</b> ends tomorrow, "
        f"<b>{notices.format_moment(sub.ends_at)}</b>.\n"
        "To keep it: renew at https://pay.example/gold?a=1&amp;b=2"
    )


def test_a_late_reminder_says_how_many_hours_are_left_instead_of_tomorrow(now):
    ends = now + timedelta(hours=3, minutes=10)
    text = notices.reminder_text("Gold Club", "3 months", ends, now, None)
    assert "ends in about 3 hours" in text and "tomorrow" not in text
    assert text.endswith("To keep it, ask for a new access code and send it to this bot.")


# -- The end and removals ----------------------------------------------------------------------


def ended(session, sub):
    decision = lifecycle.end_subscription(session, sub.id, sub.ends_at)
    removals = session.scalars(
        select(Removal).where(Removal.subscription_id == sub.id).order_by(Removal.id)
    ).all()
    return decision, removals


def test_a_removal_is_claimed_once_and_done_closes_the_membership(session, now):
    project = make_project()
    channel = make_resource(project, "Gold Club Channel")
    sub = subscribe(session, day_plan(project, [channel]), now)
    membership = membership_for(session, project.id, sub.customer_id, channel.id)
    membership.invite_link, membership.joined_at = "https://t.me/+abc", now
    _, [removal] = ended(session, sub)
    at = sub.ends_at
    assert lifecycle.due_removal_ids(session, at) == [removal.id]
    assert lifecycle.claim_removal(session, removal.id, at) is True
    assert lifecycle.claim_removal(session, removal.id, at) is False
    work = lifecycle.removal_work(session, removal.id, at)
    assert (work.chat_id, work.invite_link, work.entitled) == (
        channel.chat_id,
        membership.invite_link,
        False,
    )
    assert lifecycle.settle_removal(session, removal.id, at, Outcome.done(), at)
    session.refresh(removal)
    session.refresh(membership)
    assert (removal.status, removal.attempts, removal.done_at) == ("done", 1, at)
    assert (membership.invite_link, membership.left_at) == (None, at)
    assert lifecycle.due_removal_ids(session, at + timedelta(days=1)) == []


def test_a_removal_claimed_by_a_job_that_died_is_due_again_after_its_lease(session, now):
    sub = subscribe(session, day_plan(), now)
    _, [removal] = ended(session, sub)
    lifecycle.claim_removal(session, removal.id, sub.ends_at)
    assert lifecycle.due_removal_ids(session, sub.ends_at + LEASE - timedelta(seconds=1)) == []
    assert lifecycle.due_removal_ids(session, sub.ends_at + LEASE) == [removal.id]


def test_a_removal_that_lost_admin_rights_fails_with_its_reason_and_is_not_retried(session, now):
    project = make_project()
    channel = make_resource(project, "Gold Club Channel")
    sub = subscribe(session, day_plan(project, [channel]), now)
    _, [removal] = ended(session, sub)
    at = sub.ends_at
    lifecycle.claim_removal(session, removal.id, at)
    reason = "the bot is no longer an admin of Gold Club Channel"
    lifecycle.settle_removal(session, removal.id, at, Outcome.failed(reason), at)
    session.refresh(removal)
    assert (removal.status, removal.last_error) == ("failed", reason)
    assert lifecycle.due_removal_ids(session, at + timedelta(days=30)) == []
    labels = lifecycle.subscription_status(sub, [removal], at)
    assert ("removal_failed", f"Removal from Gold Club Channel failed: {reason}") in [
        (x.kind, x.text) for x in labels
    ]
    # The owner gives the bot its rights back and retries.
    assert lifecycle.retry_removal(session, project.id + 1, removal.id, at) is False
    assert lifecycle.retry_removal(session, project.id, removal.id, at) is True
    assert lifecycle.due_removal_ids(session, at) == [removal.id]


def test_an_unreachable_telegram_backs_off_and_gives_up_after_the_last_attempt(session, now):
    sub = subscribe(session, day_plan(), now)
    _, [removal] = ended(session, sub)
    at = sub.ends_at
    waits = []
    for _ in range(lifecycle.REMOVAL_MAX_ATTEMPTS):
        [due] = lifecycle.due_removal_ids(session, at)
        assert lifecycle.claim_removal(session, due, at)
        lifecycle.settle_removal(session, due, at, Outcome.retry(at, "Telegram did not answer"), at)
        session.refresh(removal)
        if removal.status == "failed":
            break
        waits.append(removal.next_attempt_at - at)
        at = removal.next_attempt_at
    assert waits[:3] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert removal.status == "failed" and removal.attempts == lifecycle.REMOVAL_MAX_ATTEMPTS
    assert removal.last_error == "gave up after 8 attempts: Telegram did not answer"


def test_a_removal_is_skipped_when_a_new_activation_entitles_the_customer_again(session, now):
    plan, user = day_plan(), tg_user()
    sub = subscribe(session, plan, now, user)
    _, [removal] = ended(session, sub)
    later = sub.ends_at + timedelta(minutes=1)
    subscribe(session, plan, later, user)  # back in with a new code before the job ran
    lifecycle.claim_removal(session, removal.id, later)
    assert lifecycle.removal_work(session, removal.id, later).entitled is True


def test_the_end_keeps_a_resource_another_active_subscription_covers(session, now):
    project = make_project()
    channel, chat = make_resource(project, "Channel"), make_resource(project, "Chat")
    user = tg_user()
    short = subscribe(session, day_plan(project, [channel, chat]), now, user)
    subscribe(session, make_plan(project, "1 year", "month", 12, resources=[chat]), now, user)
    decision, removals = ended(session, short)
    assert [r.resource.title for r in removals] == ["Channel"]
    assert [r.title for r in decision.keep] == ["Chat"]


# -- End notices -------------------------------------------------------------------------------


def test_the_end_notice_waits_for_the_removals_then_names_them(session, now):
    project = make_project(name="Gold Club")
    channel, chat = make_resource(project, "Gold Club Channel"), make_resource(project, "Chat")
    user = tg_user()
    sub = subscribe(session, day_plan(project, [channel, chat]), now, user)
    subscribe(session, make_plan(project, "VIP", "month", 12, resources=[chat]), now, user)
    _, [removal] = ended(session, sub)
    at = sub.ends_at
    assert lifecycle.due_end_notice_ids(session, at) == []
    assert lifecycle.end_notice_ready(session, sub.id, at) is False
    lifecycle.claim_removal(session, removal.id, at)
    lifecycle.settle_removal(session, removal.id, at, Outcome.done(), at)
    assert lifecycle.due_end_notice_ids(session, at) == [sub.id]
    assert lifecycle.claim_end_notice(session, sub.id, at) is True
    assert lifecycle.claim_end_notice(session, sub.id, at) is False
    text = lifecycle.end_notice_message(session, sub.id, at).text
    assert text == (
        "Your access to <b>Gold Club, 3 days</b> has ended, and you have been removed from "
        "<b>Gold Club Channel</b>.\nYou keep <b>Chat</b> through your other subscription.\n"
        "Thank you for being a member!"
    )
    lifecycle.settle_end_notice(session, sub.id, at, Outcome.done(), at)
    assert lifecycle.due_end_notice_ids(session, at + LEASE) == []
    session.refresh(sub)
    kinds = [x.kind for x in lifecycle.subscription_status(sub, [removal], at)]
    assert kinds == ["access_ended", "removed", "end_notice_sent"]


def test_a_rollback_tells_the_customer_their_access_was_withdrawn(session, now):
    project = make_project(name="Gold Club")
    channel = make_resource(project, "Gold Club Channel")
    plan = day_plan(project, [channel])
    code = make_code(plan, now)
    sub = activate_code(session, project.id, code.code, tg_user(), now).subscription
    rollback_code(session, project.id, code.id, owner_id=None, now=now)
    [removal] = session.scalars(select(Removal).where(Removal.subscription_id == sub.id)).all()
    assert removal.reason == "rolled_back"
    labels = lifecycle.subscription_status(sub, [removal], now)
    assert [(x.kind, x.text) for x in labels] == [
        ("access_rolled_back", "Access withdrawn (rollback)"),
        ("removal_pending", "Removal from Gold Club Channel pending"),
    ]
    lifecycle.claim_removal(session, removal.id, now)
    lifecycle.settle_removal(session, removal.id, now, Outcome.done(), now)
    assert lifecycle.claim_end_notice(session, sub.id, now)
    text = lifecycle.end_notice_message(session, sub.id, now).text
    assert text.startswith(
        "Your access to <b>Gold Club, 3 days</b> was withdrawn by the owner: the access code was "
        "cancelled, and you have been removed from <b>Gold Club Channel</b>."
    )
    assert text.endswith("If you think this is a mistake, please contact the owner.")


def test_an_end_notice_is_not_sent_days_after_the_end(session, now):
    sub = subscribe(session, make_plan(make_project(), unit="day", count=1, resources=[]), now)
    lifecycle.end_subscription(session, sub.id, sub.ends_at)
    assert lifecycle.due_end_notice_ids(session, sub.ends_at) == [sub.id]
    late = sub.ends_at + lifecycle.END_NOTICE_WINDOW + timedelta(seconds=1)
    assert lifecycle.due_end_notice_ids(session, late) == []


def test_the_status_shows_a_reminder_in_flight_and_a_pending_retry(session, now):
    sub = subscribe(session, day_plan(), now)
    at = sub.ends_at - timedelta(hours=23)
    lifecycle.claim_reminder(session, sub.id, at)
    session.refresh(sub)
    assert [x.kind for x in lifecycle.subscription_status(sub, [], at)] == ["reminder_sending"]
    _, [removal] = ended(session, sub)
    lifecycle.claim_removal(session, removal.id, sub.ends_at)
    retry = Outcome.retry(sub.ends_at, "Telegram did not answer")
    lifecycle.settle_removal(session, removal.id, sub.ends_at, retry, sub.ends_at)
    session.refresh(sub)
    texts = [x.text for x in lifecycle.subscription_status(sub, [removal], sub.ends_at)]
    assert "Removal from Gold Club Channel pending (retrying: Telegram did not answer)" in texts


# -- The customer's language and the owner's own texts ----------------------------------------


def test_the_reminder_speaks_the_customers_remembered_language_with_the_owners_renewal_line(
    session, now
):
    project = make_project(name="Gold Club", timezone="Europe/Kyiv")
    owner_texts.save_project_texts(
        session, project.id, "uk", {"renewal": "Продовжте {plan}, {name}: <b>t.me/gold</b>"}, now
    )
    plan = day_plan(project, renewal_text="renew at https://pay.example")
    sub = subscribe(session, plan, now, tg_user(first_name="Олена", language_code="uk"))
    english_speaker = subscribe(session, plan, now, tg_user(language_code="en-GB"))
    at = sub.ends_at - timedelta(hours=23)

    text = lifecycle.reminder_message(session, sub.id, at).text
    assert text == (
        "⏰ Ваш доступ до <b>Gold Club, 3 days</b> завершується завтра, "
        f"<b>{notices.format_moment(sub.ends_at, 'uk', 'Europe/Kyiv')}</b>.\n"
        "Продовжте Gold Club, 3 days, Олена: <b>t.me/gold</b>"
    )
    assert "(Europe/Kyiv)" in text
    # The override is Ukrainian: an English-speaking customer keeps the plan's renewal text.
    english = lifecycle.reminder_message(session, english_speaker.id, at).text
    assert english.endswith("To keep it: renew at https://pay.example")


def test_a_customer_without_a_language_we_speak_reads_the_projects_default(session, now):
    project = make_project(name="Gold Club", default_language="es")
    owner_texts.save_project_texts(
        session, project.id, "es", {"end": "¡Vuelve pronto, {name}!"}, now
    )
    sub = subscribe(session, day_plan(project, []), now, tg_user(language_code="de"))
    ended(session, sub)
    text = lifecycle.end_notice_message(session, sub.id, sub.ends_at).text
    assert text == "Tu acceso a <b>Gold Club, 3 days</b> ha terminado.\n¡Vuelve pronto, Ann!"


def test_a_rollback_names_the_owners_contact_in_the_customers_language(session, now):
    project = make_project(name="Gold Club")
    owner_texts.save_project_texts(session, project.id, "pt_BR", {"contact": "@GoldAjuda"}, now)
    plan = day_plan(project, [])
    code = make_code(plan, now)
    user = tg_user(language_code="pt-br")
    sub = activate_code(session, project.id, code.code, user, now).subscription
    rollback_code(session, project.id, code.id, owner_id=None, now=now)
    text = lifecycle.end_notice_message(session, sub.id, now).text
    assert text == (
        "O responsável retirou seu acesso a <b>Gold Club, 3 days</b>: o código de acesso foi "
        "cancelado.\nSe você acha que isso é um engano, fale com o responsável: @GoldAjuda"
    )
