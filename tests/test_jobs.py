"""The lifecycle jobs for real: RQ on Redis (embedded or the server), a burst SimpleWorker, and
the Bot API emulator standing in for Telegram. Time comes from the test clock in Redis.
"""

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import has_app_context
from rq import Queue
from rq.cron import CronScheduler
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker import SimpleWorker
from sqlalchemy import select

import webapp.worker
from bot.owner_codes import send_attention_digests
from tests.conftest import NOW, TEST_TOKEN_KEY
from tests.factories import make_code, make_owner, make_plan, make_project, make_resource, tg_user
from webapp import clock, jobs, telegram
from webapp.domain import lifecycle
from webapp.domain.activation import activate_code
from webapp.domain.memberships import membership_for, store_link
from webapp.domain.rollback import rollback_code
from webapp.extensions import db
from webapp.models import Customer, Removal, Subscription
from webapp.queues import QUEUE_NAME, get_redis
from webapp.telegram_emulator import BotApiEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "7100:AAlifecycle-test-secret"
BOT_ID = 7100
ANN, BOB = 5001, 5002
CHANNEL, CHAT = -1001000000101, -1001000000102


@pytest.fixture
def bot_api(app_config):
    """The emulator, started before ``app`` so the app talks to it."""
    emu = BotApiEmulator(clock_start=NOW.timestamp()).start()
    app_config["TELEGRAM_API_URL"] = emu.url
    yield emu
    emu.stop()
    assert emu.spec_violations() == [], "calls the Bot API specification does not allow"


class Harness:
    """Drives the lifecycle the way production does: cron enqueues the sweep, a worker runs it."""

    def __init__(self, app, emu):
        self.app, self.emu = app, emu
        with app.app_context():
            self.redis = get_redis()
        self.queue = Queue(QUEUE_NAME, connection=self.redis)

    def at(self, moment):
        """Move the whole world to ``moment``: the product's clock and Telegram's."""
        clock.set_fake_now(self.redis, moment)
        self.emu.set_clock(moment.timestamp())

    def sweep(self):
        """What ``rq cron`` does every minute, followed by a worker draining the queue."""
        self.queue.enqueue(jobs.sweep_lifecycle)
        self.work()

    def run(self, job, *args):
        """Run a job function right here, as a worker would."""
        end_test_transaction()
        return job(*args)

    def work(self):
        end_test_transaction()
        SimpleWorker([self.queue], connection=self.redis).work(burst=True)
        failed = FailedJobRegistry(queue=self.queue)
        assert failed.count == 0, [
            self.queue.fetch_job(job_id).latest_result().exc_string
            for job_id in failed.get_job_ids()
        ]

    def messages(self, user_id):
        return [m["text"] for m in self.emu.sent_messages(TOKEN, chat_id=user_id)]

    def send_calls(self, user_id=None):
        calls = self.emu.calls(TOKEN, "sendMessage")
        return [c for c in calls if user_id is None or int(c["params"]["chat_id"]) == user_id]


def end_test_transaction():
    """The test's own session lets go of the database before jobs run in other sessions.

    (SQLite here takes its write lock at BEGIN: an open read in the test would block the jobs.)
    """
    if has_app_context():
        db.session.commit()


@pytest.fixture
def harness(bot_api, app, monkeypatch):
    # Jobs run in this process and open their app contexts on the test's app.
    monkeypatch.setattr(webapp.worker, "_app", app)
    return Harness(app, bot_api)


def setup_telegram(emu):
    emu.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    for user_id, name in ((ANN, "Ann"), (BOB, "Bob")):
        emu.add_user(user_id, name, "Lee", name.lower())
        emu.start_bot(user_id, TOKEN)  # customers activated their codes in the bot
    emu.add_chat(CHANNEL, "channel", "Gold Club Channel")
    emu.add_chat(CHAT, "supergroup", "Gold Club Chat")
    for chat_id in (CHANNEL, CHAT):
        emu.set_chat_admin(chat_id, BOT_ID, can_invite_users=True, can_restrict_members=True)


def setup_project(session):
    project = make_project(
        make_owner(),
        name="Gold Club",
        bot_token=TOKEN,
        bot_user_id=BOT_ID,
        bot_username="GoldClubBot",
    )
    channel = make_resource(project, "Gold Club Channel", chat_id=CHANNEL)
    chat = make_resource(project, "Gold Club Chat", chat_id=CHAT, chat_type="supergroup")
    return project, channel, chat


def activate(session, plan, user_id, now):
    code = make_code(plan, now)
    user = tg_user(user_id, first_name="Ann" if user_id == ANN else "Bob")
    return activate_code(session, plan.project_id, code.code, user, now)


def join(session, emu, project, customer_id, resource, user_id, now):
    """The customer joins through their own invite link, as the bot hands it out."""
    link = telegram.create_invite_link(TOKEN, resource.chat_id, name="Admit", member_limit=1)
    membership = membership_for(session, project.id, customer_id, resource.id)
    store_link(membership, link, now + timedelta(days=1))
    membership.joined_at = now
    emu.open_invite_link(user_id, link)
    return link


@pytest.fixture
def gold(harness, session, now):
    """Ann on a 3-day plan covering the channel and the chat, joined to both."""
    setup_telegram(harness.emu)
    project, channel, chat = setup_project(session)
    plan = make_plan(project, "3 days", "day", 3, resources=[channel, chat])
    result = activate(session, plan, ANN, now)
    for resource in (channel, chat):
        join(session, harness.emu, project, result.customer.id, resource, ANN, now)
    session.commit()
    return {
        "project": project,
        "plan": plan,
        "channel": channel,
        "chat": chat,
        "sub": result.subscription,
    }


def reload(session, model, id_):
    return session.get(model, id_, populate_existing=True)


# -- Exactly one reminder ----------------------------------------------------------------------


def test_two_sweeps_and_a_duplicated_job_send_exactly_one_reminder(harness, gold, session):
    sub = gold["sub"]
    harness.at(sub.ends_at - timedelta(hours=23))
    harness.queue.enqueue(jobs.sweep_lifecycle)  # two cron processes, no leader election
    harness.queue.enqueue(jobs.sweep_lifecycle)
    harness.queue.enqueue(jobs.send_reminder, sub.id)  # and a stray duplicate of the job itself
    harness.work()
    harness.sweep()
    [text] = harness.messages(ANN)
    assert (
        "Your access to <b>Gold Club, 3 days</b> ends tomorrow"
        in harness.send_calls(ANN)[0]["params"]["text"]
    )
    assert "Gold Club, 3 days" in text
    assert reload(session, Subscription, sub.id).reminder_sent_at == sub.ends_at - timedelta(
        hours=23
    )


def test_two_rq_cron_processes_firing_at_start_up_still_send_one_reminder(harness, gold):
    sub = gold["sub"]
    harness.at(sub.ends_at - timedelta(hours=23))
    schedulers = [CronScheduler(connection=harness.redis) for _ in range(2)]
    for scheduler in schedulers:
        scheduler.load_config_from_file("webapp.cron")  # what `rq cron webapp.cron` loads
    [sweep] = [job for job in schedulers[0].get_jobs() if job.func is jobs.sweep_lifecycle]
    [digest] = [job for job in schedulers[0].get_jobs() if job.func is send_attention_digests]
    assert (sweep.func, sweep.interval, sweep.queue_name) == (jobs.sweep_lifecycle, 60, QUEUE_NAME)
    assert (digest.func, digest.interval) == (send_attention_digests, 3600)
    for scheduler in schedulers:
        assert scheduler.enqueue_jobs() == scheduler.get_jobs()  # no leader election in RQ 3
    # Every job of both schedulers fired: the sweeps, the reconciles and the owners' digests.
    assert harness.queue.count == 2 * len(schedulers[0].get_jobs())
    harness.work()
    assert len(harness.messages(ANN)) == 1


def test_sweeps_finding_the_same_reminder_collapse_into_one_queued_job(harness, gold, app):
    sub = gold["sub"]
    harness.at(sub.ends_at - timedelta(hours=23))
    first, second = harness.run(jobs.sweep_lifecycle), harness.run(jobs.sweep_lifecycle)
    assert first["reminders"] == 1 and second["reminders"] == 0
    assert harness.queue.job_ids == [f"reminder-{sub.id}-{int(sub.ends_at.timestamp())}"]


def test_no_reminder_before_the_last_day_and_none_for_a_lifetime_plan(harness, session, now):
    setup_telegram(harness.emu)
    project, channel, chat = setup_project(session)
    lifetime = make_plan(project, "Lifetime", "lifetime", resources=[chat])
    monthly = make_plan(project, "1 month", "month", 1, resources=[channel])
    forever = activate(session, lifetime, ANN, now).subscription
    month = activate(session, monthly, BOB, now).subscription
    session.commit()
    harness.at(month.ends_at - timedelta(hours=25))
    harness.sweep()
    assert harness.send_calls() == []
    harness.at(month.ends_at - timedelta(hours=23))
    harness.sweep()
    assert harness.messages(ANN) == [] and len(harness.messages(BOB)) == 1
    harness.at(now + timedelta(days=3650))
    harness.sweep()
    assert harness.messages(ANN) == []
    assert reload(session, Subscription, forever.id).ended_at is None


def test_an_extended_subscription_gets_a_new_reminder_before_its_new_end(harness, gold, session):
    sub, plan = gold["sub"], gold["plan"]
    first_end = sub.ends_at
    harness.at(first_end - timedelta(hours=23))
    harness.sweep()
    activate(session, plan, ANN, first_end - timedelta(hours=22))  # renewed with a new code
    session.commit()
    new_end = reload(session, Subscription, sub.id).ends_at
    assert new_end == first_end + timedelta(days=3)
    harness.at(first_end + timedelta(hours=1))  # past the old end: nothing ends, nothing is sent
    harness.sweep()
    assert len(harness.messages(ANN)) == 1 and harness.emu.is_member(CHANNEL, ANN)
    harness.at(new_end - timedelta(hours=23))
    harness.sweep()
    assert len(harness.messages(ANN)) == 2


# -- Crashes and lost queues -------------------------------------------------------------------


def worker_process(database_url, redis_url, telegram_url):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TELEGRAM_API_URL=telegram_url,
        ADMIT_FAKE_CLOCK="1",
        ADMIT_ENV="test",
        SECRET_KEY="test-secret",
        TOKEN_ENCRYPTION_KEYS=TEST_TOKEN_KEY,
    )
    env.pop("DYNO", None)
    return subprocess.Popen(
        [sys.executable, "-m", "webapp.worker", "--burst"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_until(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_job_leads_to_exactly_one_reminder(
    harness, gold, session, database_url, redis_url
):
    sub = gold["sub"]
    at = sub.ends_at - timedelta(hours=23)
    harness.at(at)

    def claimed():
        lease = reload(session, Subscription, sub.id).reminder_lease_until
        session.rollback()
        return lease

    # A Telegram that accepts the connection and never answers: the job hangs inside the send,
    # after its claim was committed and before any message was delivered.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    try:
        harness.run(jobs.sweep_lifecycle)
        [job_id] = harness.queue.job_ids
        worker = worker_process(
            database_url, redis_url, f"http://127.0.0.1:{black_hole.getsockname()[1]}"
        )
        try:
            wait_until(claimed, what="the job's claim")
        finally:
            worker.kill()
            worker.wait()
    finally:
        black_hole.close()

    # RQ notices the dead worker, fails the job, and it is retried: the claim still holds.
    StartedJobRegistry(queue=harness.queue).cleanup(time.time() + 3600)
    failed = FailedJobRegistry(queue=harness.queue)
    assert failed.get_job_ids() == [job_id]
    failed.requeue(job_id)
    harness.work()
    harness.sweep()
    assert harness.send_calls() == []
    # The claim's lease runs out: the next sweep sends it, once.
    harness.at(at + lifecycle.LEASE)
    harness.sweep()
    harness.sweep()
    assert len(harness.messages(ANN)) == 1


def flush_redis(harness, redis_url):
    """Redis loses everything. The shared server is used by others: only our db is wiped there."""
    if redis_url.startswith("unix://"):
        harness.redis.flushall()
    else:
        harness.redis.flushdb()


def test_nothing_is_lost_when_redis_loses_its_data(harness, gold, session, redis_url):
    sub = gold["sub"]
    remind_at = sub.ends_at - timedelta(hours=23)
    harness.at(remind_at)
    harness.run(jobs.sweep_lifecycle)
    assert harness.queue.count == 1
    flush_redis(harness, redis_url)
    assert harness.queue.count == 0
    harness.at(remind_at + timedelta(minutes=1))
    harness.sweep()
    assert len(harness.messages(ANN)) == 1

    end_at = sub.ends_at + timedelta(minutes=1)
    harness.at(end_at)
    harness.run(jobs.end_subscription, sub.id)  # ended, its removals written and enqueued ...
    assert harness.queue.count == 2
    flush_redis(harness, redis_url)  # ... and the queue is gone
    harness.at(end_at)
    harness.sweep()
    assert not harness.emu.is_member(CHANNEL, ANN) and not harness.emu.is_member(CHAT, ANN)
    assert "has ended" in harness.messages(ANN)[-1]


# -- Telegram's answers ------------------------------------------------------------------------


def test_a_429_waits_retry_after_and_tries_again(harness, gold, session):
    sub = gold["sub"]
    harness.at(sub.ends_at - timedelta(hours=23))
    harness.emu.fail_next("sendMessage", 429, retry_after=1)
    harness.sweep()
    first, second = harness.send_calls(ANN)
    assert second["at"] - first["at"] >= 1.0
    assert len(harness.messages(ANN)) == 1


def test_a_long_flood_wait_puts_the_reminder_back_instead_of_holding_the_worker(
    harness, gold, session
):
    sub = gold["sub"]
    at = sub.ends_at - timedelta(hours=23)
    harness.at(at)
    harness.emu.fail_next("sendMessage", 429, retry_after=30)
    started = time.monotonic()
    harness.sweep()
    assert time.monotonic() - started < 10
    assert harness.messages(ANN) == []
    assert reload(session, Subscription, sub.id).reminder_lease_until == at + timedelta(seconds=30)
    harness.at(at + timedelta(seconds=29))
    harness.sweep()
    assert len(harness.send_calls(ANN)) == 1
    harness.at(at + timedelta(seconds=30))
    harness.sweep()
    assert len(harness.messages(ANN)) == 1


def test_gateway_errors_are_retried_with_backoff_but_a_lost_answer_is_not(
    harness, gold, session
):
    sub = gold["sub"]
    at = sub.ends_at - timedelta(hours=23)
    harness.at(at)
    harness.emu.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    harness.emu.fail_next("sendMessage", 503, "Service Unavailable")
    # Then Telegram sends it but the answer never arrives: sending again would say it twice.
    harness.emu.fail_next("sendMessage", disconnect=True, after=True)
    harness.sweep()
    calls = harness.send_calls(ANN)
    assert len(calls) == 4 and len(harness.messages(ANN)) == 1
    gaps = [b["at"] - a["at"] for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0 and gaps[2] >= 2.0
    assert reload(session, Subscription, sub.id).reminder_sent_at is not None


def test_telegram_down_for_a_while_postpones_the_reminder_and_sends_it_later(
    harness, gold, session, monkeypatch
):
    monkeypatch.setattr(telegram, "BACKOFF_BASE", 0.01)
    sub = gold["sub"]
    at = sub.ends_at - timedelta(hours=23)
    harness.at(at)
    harness.emu.fail_next("sendMessage", 500, times=telegram.MAX_ATTEMPTS)
    harness.sweep()
    assert harness.messages(ANN) == []
    retry_at = reload(session, Subscription, sub.id).reminder_lease_until
    assert retry_at == at + jobs.MESSAGE_RETRY_DELAY
    harness.at(retry_at)
    harness.sweep()
    assert len(harness.messages(ANN)) == 1


def test_a_customer_who_blocked_the_bot_is_recorded_and_not_retried(harness, gold, session):
    sub = gold["sub"]
    harness.emu.block_bot(ANN, TOKEN, notify=False)
    at = sub.ends_at - timedelta(hours=23)
    harness.at(at)
    harness.sweep()
    for later in (at + lifecycle.LEASE, at + timedelta(hours=5)):
        harness.at(later)
        harness.sweep()
    assert len(harness.send_calls(ANN)) == 1
    customer = reload(session, Customer, sub.customer_id)
    assert customer.blocked_bot_at == at
    # At the end they are still removed; the end notice is not even tried.
    harness.at(sub.ends_at)
    harness.sweep()
    assert not harness.emu.is_member(CHANNEL, ANN)
    assert len(harness.send_calls(ANN)) == 1
    sub = reload(session, Subscription, sub.id)
    assert (sub.reminder_error, sub.end_notice_error) == (lifecycle.BLOCKED_ERROR,) * 2


# -- Removals ----------------------------------------------------------------------------------


def test_a_removal_the_bot_has_no_rights_for_is_recorded_as_failed_for_the_owner(
    harness, gold, session
):
    sub = gold["sub"]
    harness.emu.set_chat_admin(CHANNEL, BOT_ID, can_invite_users=True, can_restrict_members=False)
    harness.emu.bot_removed(TOKEN, CHAT, by_user_id=ANN)
    harness.at(sub.ends_at)
    harness.sweep()
    harness.at(sub.ends_at + timedelta(hours=2))
    harness.sweep()
    removals = session.scalars(
        select(Removal).where(Removal.subscription_id == sub.id).order_by(Removal.resource_id)
    ).all()
    assert [(r.status, r.attempts, r.last_error) for r in removals] == [
        ("failed", 1, "the bot lacks the right to ban members in Gold Club Channel"),
        ("failed", 1, "the bot is no longer an admin of Gold Club Chat"),
    ]
    labels = lifecycle.subscription_status(
        reload(session, Subscription, sub.id), removals, sub.ends_at
    )
    assert [x.kind for x in labels] == [
        "access_ended",
        "removal_failed",
        "removal_failed",
        "end_notice_sent",
    ]
    # The customer is told the access ended, without claiming they were removed.
    assert harness.messages(ANN)[-1] == (
        "Your access to Gold Club, 3 days has ended.\nThank you for being a member!"
    )


def test_a_removal_retried_after_the_owner_fixes_the_rights_succeeds(harness, gold, session):
    sub = gold["sub"]
    harness.emu.set_chat_admin(CHANNEL, BOT_ID, can_invite_users=True, can_restrict_members=False)
    harness.at(sub.ends_at)
    harness.sweep()
    failed = session.scalars(select(Removal).where(Removal.status == "failed")).one()
    harness.emu.set_chat_admin(CHANNEL, BOT_ID, can_invite_users=True, can_restrict_members=True)
    assert lifecycle.retry_removal(session, gold["project"].id, failed.id, sub.ends_at)
    session.commit()
    assert jobs.enqueue_removals([failed.id]) == 1
    harness.work()
    assert reload(session, Removal, failed.id).status == "done"
    assert not harness.emu.is_member(CHANNEL, ANN)


def test_at_the_end_the_customer_leaves_the_plans_resources_but_keeps_one_another_plan_covers(
    harness, gold, session, now
):
    sub, chat = gold["sub"], gold["chat"]
    vip = make_plan(gold["project"], "VIP chat, 1 year", "month", 12, resources=[chat])
    activate(session, vip, ANN, now)
    session.commit()
    harness.at(sub.ends_at)
    harness.sweep()
    assert not harness.emu.is_member(CHANNEL, ANN)
    assert harness.emu.member_status(CHANNEL, ANN) == "left"  # banned, then unbanned: may return
    assert harness.emu.is_member(CHAT, ANN)
    assert harness.messages(ANN)[-1] == (
        "Your access to Gold Club, 3 days has ended, and you have been removed from Gold Club "
        "Channel.\nYou keep Gold Club Chat through your other subscription.\n"
        "Thank you for being a member!"
    )
    [channel_link] = [x for x in harness.emu.invite_links(CHANNEL) if x.get("name") == "Admit"]
    assert channel_link["is_revoked"] is True


def test_a_customer_who_renews_before_the_removal_runs_is_left_in(harness, gold, session):
    sub, plan = gold["sub"], gold["plan"]
    harness.at(sub.ends_at)
    harness.run(jobs.end_subscription, sub.id)  # ended; the removals wait in the queue ...
    activate(session, plan, ANN, sub.ends_at + timedelta(seconds=10))  # ... and Ann renews
    session.commit()
    harness.at(sub.ends_at + timedelta(seconds=20))
    harness.work()
    statuses = session.scalars(select(Removal.status).where(Removal.subscription_id == sub.id))
    assert sorted(statuses) == ["skipped", "skipped"]
    assert harness.emu.is_member(CHANNEL, ANN) and harness.emu.is_member(CHAT, ANN)
    assert harness.emu.calls(TOKEN, "banChatMember") == []
    assert harness.messages(ANN) == []  # no "your access has ended" to someone who renewed


def test_rollback_removals_are_carried_out_with_a_message(harness, gold, session, now):
    project, plan, channel = gold["project"], gold["plan"], gold["channel"]
    code = make_code(plan, now, max_activations=2)
    bob = activate_code(session, project.id, code.code, tg_user(BOB, first_name="Bob"), now)
    join(session, harness.emu, project, bob.customer.id, channel, BOB, now)
    session.commit()
    rollback_code(session, project.id, code.id, owner_id=project.owner_id, now=now)
    session.commit()
    removal_ids = lifecycle.pending_removal_ids(session, bob.subscription.id)
    assert len(removal_ids) == 2
    harness.at(now + timedelta(seconds=5))
    assert jobs.enqueue_removals(removal_ids) == 2
    assert jobs.enqueue_removals(removal_ids) == 0  # already waiting
    harness.work()
    assert not harness.emu.is_member(CHANNEL, BOB)
    assert harness.emu.is_member(CHANNEL, ANN)  # Ann's own code was not rolled back
    [text] = harness.messages(BOB)
    assert text.startswith("Your access to Gold Club, 3 days was withdrawn by the owner")


# -- Limits ------------------------------------------------------------------------------------


def test_reminders_to_many_customers_stay_within_30_a_second_and_1_per_chat(harness, session, now):
    setup_telegram(harness.emu)
    harness.emu.set_rate_limit(per_bot_per_second=30, per_chat_per_second=1)
    project, channel, chat = setup_project(session)
    plans = [make_plan(project, f"{n} days", "day", 3, resources=[channel]) for n in range(3)]
    users = list(range(6000, 6040))
    for user_id in users:
        harness.emu.add_user(user_id, f"U{user_id}")
        harness.emu.start_bot(user_id, TOKEN)
        activate(session, plans[0], user_id, now)
    for plan in plans[1:]:  # Ann has three plans ending at once: three messages to one chat
        activate(session, plan, ANN, now)
    activate(session, plans[0], ANN, now)
    session.commit()
    harness.at(now + timedelta(days=2, hours=1))
    started = time.monotonic()
    harness.sweep()
    elapsed = time.monotonic() - started
    calls = harness.send_calls()
    assert len(calls) == 43 and harness.emu.stats()["rate_limited"] == 0
    times = sorted(c["at"] for c in calls)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 30
    to_ann = sorted(c["at"] for c in harness.send_calls(ANN))
    assert len(to_ann) == 3 and all(b - a >= 1.0 for a, b in zip(to_ann, to_ann[1:], strict=False))
    assert elapsed >= 2.0  # Ann's third reminder waited two seconds for her chat


# -- Safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "env_flag", "honoured"),
    [
        ({"TESTING": True}, None, True),
        ({"TESTING": False}, "1", True),
        ({"TESTING": False}, None, False),
        ({"TESTING": True, "ADMIT_ENV": "production"}, "1", False),
    ],
)
def test_the_test_clock_is_read_only_under_test_and_never_in_production(
    app_config, monkeypatch, now, settings, env_flag, honoured
):
    from webapp import create_app

    if env_flag:
        monkeypatch.setenv("ADMIT_FAKE_CLOCK", env_flag)
    else:
        monkeypatch.delenv("ADMIT_FAKE_CLOCK", raising=False)
    app = create_app({**app_config, **settings})
    with app.app_context():
        redis = get_redis()
        clock.set_fake_now(redis, now - timedelta(days=400))
        try:
            assert (clock.now() == now - timedelta(days=400)) is honoured
        finally:
            redis.delete(clock.FAKE_NOW_KEY)
            db.engine.dispose()


def test_enqueueing_removals_without_redis_loses_nothing_the_sweep_will_find_them(
    app_config, now
):
    from webapp import create_app

    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:9/0"})
    with app.app_context():
        assert jobs.enqueue_removals([1, 2]) == 0
        db.engine.dispose()
