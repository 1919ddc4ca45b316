"""The lifecycle end to end: the real bot process activates, real worker processes run the jobs
against the Bot API emulator, and the test clock in Redis moves a day ahead in a second.
"""

import subprocess
import sys
import time
from datetime import timedelta

import pytest
from flask import current_app
from rq import Queue
from sqlalchemy import select

import webapp.worker
from tests import factories
from tests.bot_process import (  # noqa: F401 - fixtures
    ROOT,
    bot_env,
    bot_process_fixture,
    emu_fixture,
    unique_id,
    wait_handled,
    wait_polling,
)
from tests.conftest import NOW
from webapp import clock, jobs
from webapp.domain.activation import activate_code
from webapp.extensions import db
from webapp.models import Activation, Customer, Subscription
from webapp.queues import QUEUE_NAME, get_redis

pytestmark = pytest.mark.slow


def worker_env(migrated, redis_url, emu) -> dict:
    env = bot_env(migrated, redis_url, emu.url)
    env["ADMIT_FAKE_CLOCK"] = "1"
    return env


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "webapp.worker", "--burst"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(worker: subprocess.Popen) -> None:
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err.decode()


def sweep(queue: Queue, env: dict) -> None:
    """One minute of production: ``rq cron`` enqueues the sweep, the worker drains the queue."""
    db.session.rollback()  # hold no transaction while other processes write (SQLite)
    queue.enqueue(jobs.sweep_lifecycle)
    finish(start_worker(env))
    assert queue.failed_job_registry.count == 0


def texts(emu, token, chat_id) -> list[str]:
    return [m.get("text") or "" for m in emu.sent_messages(token, chat_id)]


def say(emu, token, user_id, text) -> None:
    update = emu.send_message(token, user_id, text)
    wait_handled(emu, token, update["update_id"])


def join_buttons(emu, token, user_id) -> list[str]:
    markup = emu.sent_messages(token, user_id)[-1].get("reply_markup") or {}
    return [b["url"] for row in markup.get("inline_keyboard", []) for b in row if "url" in b]


def test_activation_reminder_once_then_removal_except_where_another_plan_still_covers(
    app_ctx, emu, bot_process, migrated, redis_url
):
    n = unique_id()
    bot_id, owner_tg, ann = 810000 + n, 910000 + n, 510000 + n
    token = f"{bot_id}:LIFE-{n}"
    channel_id, chat_id = -1003000000000 - n, -1003100000000 - n
    emu.add_bot(token, username=f"Gold{n}Bot", first_name="Gold Club")
    emu.add_user(owner_tg, "Olga", "Owner")
    emu.add_user(ann, "Ann", "Lee", username=f"ann{n}")
    emu.start_bot(owner_tg, token)  # she linked her account with /start in this bot
    emu.add_chat(channel_id, "channel", "Gold Club Channel")
    emu.add_chat(chat_id, "supergroup", "Gold Club Chat")
    for chat in (channel_id, chat_id):
        emu.set_chat_admin(chat, bot_id, can_invite_users=True, can_restrict_members=True)
    owner = factories.make_owner(telegram_user_id=owner_tg)
    project = factories.make_project(
        owner, name="Gold Club", bot_token=token, bot_user_id=bot_id, bot_username=f"Gold{n}Bot"
    )
    channel = factories.make_resource(project, "Gold Club Channel", chat_id=channel_id)
    chat = factories.make_resource(
        project, "Gold Club Chat", chat_id=chat_id, chat_type="supergroup"
    )
    short = factories.make_plan(project, "3 days", "day", 3, resources=[channel, chat])
    vip = factories.make_plan(project, "VIP chat, 1 month", "month", 1, resources=[chat])
    short_code = factories.make_code(short, NOW).code
    vip_code = factories.make_code(vip, NOW).code
    db.session.commit()
    wait_polling(emu, token)

    # Activation through the bot, and Ann joins both resources with her own links.
    say(emu, token, ann, f"/start {short_code}")
    for url in join_buttons(emu, token, ann):
        assert emu.open_invite_link(ann, url) == "joined"
    say(emu, token, ann, f"/start {vip_code}")
    assert emu.is_member(channel_id, ann) and emu.is_member(chat_id, ann)
    db.session.rollback()
    customer = db.session.scalars(
        select(Customer).where(Customer.project_id == project.id, Customer.telegram_user_id == ann)
    ).one()
    subscription = db.session.scalars(
        select(Subscription)
        .join(Activation, Activation.subscription_id == Subscription.id)
        .where(Subscription.customer_id == customer.id, Subscription.plan_id == short.id)
    ).one()
    ends_at = subscription.ends_at
    db.session.rollback()
    before = len(emu.sent_messages(token, ann))

    redis = get_redis()
    queue = Queue(QUEUE_NAME, connection=redis)
    env = worker_env(migrated, redis_url, emu)

    # 23 hours before the end: one reminder, however often the sweep runs.
    clock.set_fake_now(redis, ends_at - timedelta(hours=23))
    sweep(queue, env)
    sweep(queue, env)
    reminders = texts(emu, token, ann)[before:]
    assert len(reminders) == 1
    assert reminders[0].startswith("⏰ Your access to Gold Club, 3 days ends tomorrow")

    # Past the end: out of the channel, still in the chat the VIP plan covers, and told so.
    clock.set_fake_now(redis, ends_at + timedelta(minutes=1))
    sweep(queue, env)
    sweep(queue, env)
    assert not emu.is_member(channel_id, ann)
    assert emu.member_status(channel_id, ann) == "left"  # unbanned: a new code lets her back
    assert emu.is_member(chat_id, ann)
    after = texts(emu, token, ann)[before:]
    assert after[1:] == [
        "Your access to Gold Club, 3 days has ended, and you have been removed from Gold Club "
        "Channel.\nYou keep Gold Club Chat through your other subscription.\n"
        "Thank you for being a member!"
    ]
    lifecycle_calls = [
        c for c in emu.calls(token) if c["method"] in ("banChatMember", "unbanChatMember")
    ]
    assert [int(c["params"]["chat_id"]) for c in lifecycle_calls] == [channel_id, channel_id]
    assert all(c["status"] == 200 for c in lifecycle_calls)


def test_two_worker_processes_share_one_bots_limits(app_ctx, emu, migrated, redis_url, monkeypatch):
    """Two workers at once send 50 reminders: never more than 30 a second, not a single 429."""
    n = unique_id()
    bot_id = 820000 + n
    token = f"{bot_id}:RATE-{n}"
    emu.add_bot(token, username=f"Rate{n}Bot")
    project = factories.make_project(bot_token=token, bot_user_id=bot_id)
    plan = factories.make_plan(project, "3 days", "day", 3, resources=[])
    now = NOW
    users = [520000 + n * 100 + i for i in range(50)]
    for user_id in users:
        emu.add_user(user_id, "Customer")
        emu.start_bot(user_id, token)  # they activated their codes in the bot
        code = factories.make_code(plan, now)
        activate_code(db.session, project.id, code.code, factories.tg_user(user_id), now)
    db.session.commit()
    redis = get_redis()
    queue = Queue(QUEUE_NAME, connection=redis)
    env = worker_env(migrated, redis_url, emu)
    emu.set_rate_limit(per_bot_per_second=30, per_chat_per_second=1)
    try:
        clock.set_fake_now(redis, now + timedelta(days=2, hours=1))
        monkeypatch.setattr(webapp.worker, "_app", current_app._get_current_object())
        jobs.sweep_lifecycle()
        assert queue.count == 50
        started = time.monotonic()
        workers = [start_worker(env), start_worker(env)]
        for worker in workers:
            finish(worker)
        elapsed = time.monotonic() - started
    finally:
        emu.set_rate_limit(None, None, None)
    calls = emu.calls(token, "sendMessage")
    assert len(calls) == 50 and all(c["status"] == 200 for c in calls)
    times = sorted(c["at"] for c in calls)
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest <= 30
    assert elapsed >= 1.0  # 50 messages at 30 a second cannot take less
