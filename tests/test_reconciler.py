"""The reconciler: after an outage longer than Telegram keeps updates, one reconcile brings the
chats back to the database (joins and leaves recorded, used links revoked, intruders removed)."""

from datetime import timedelta

import pytest
import requests
from rq.cron import CronScheduler

import webapp.worker
from bot import reconciler, texts
from bot.handlers import ALLOWED_UPDATES
from tests.factories import make_owner, make_plan, make_project, make_resource
from tests.test_jobs import BOT_ID, TOKEN, Harness, activate, end_test_transaction
from tests.test_jobs import bot_api as bot_api  # noqa: F401 - the fixture
from webapp import telegram
from webapp.domain import reconcile
from webapp.domain.memberships import membership_for
from webapp.extensions import db
from webapp.models import Customer, Membership, Removal, Resource

OWNER_TG = 7900
CHANNEL = -1001000000301
ANN, BOB, CAROL, DAN = 5001, 5002, 5003, 5004


@pytest.fixture
def harness(bot_api, app, monkeypatch):  # noqa: F811
    monkeypatch.setattr(webapp.worker, "_app", app)
    return Harness(app, bot_api)


def customer_id(session, user_id):
    return session.query(Customer).filter_by(telegram_user_id=user_id).one().id


def own_link(session, project, resource, user_id, now):
    """A Join link made for the customer and recorded, as the bot hands them out."""
    link = telegram.create_invite_link(
        TOKEN, CHANNEL, name="Admit", expire_date=now + timedelta(days=1), member_limit=1
    )
    membership = membership_for(session, project.id, customer_id(session, user_id), resource.id)
    membership.invite_link = link
    membership.invite_link_expires_at = now + timedelta(days=1)
    session.commit()
    return link


def recorded_in(session, user_id, resource_id) -> bool:
    membership = session.scalars(
        db.select(Membership).where(
            Membership.customer_id == customer_id(session, user_id),
            Membership.resource_id == resource_id,
        )
    ).first()
    return membership is not None and membership.joined_at is not None and (
        membership.left_at is None
    )


def test_after_a_two_day_outage_one_reconcile_makes_the_chat_match_the_database(
    harness, session, now
):
    emu = harness.emu
    emu.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    emu.add_user(OWNER_TG, "Olga")
    emu.start_bot(OWNER_TG, TOKEN)
    for user_id, name in ((ANN, "Ann"), (BOB, "Bob"), (CAROL, "Carol"), (DAN, "Dan")):
        emu.add_user(user_id, name)
        emu.start_bot(user_id, TOKEN)
    emu.add_chat(CHANNEL, "channel", "Gold Club Channel")
    emu.set_chat_admin(CHANNEL, BOT_ID, can_invite_users=True, can_restrict_members=True)
    requests.post(f"{emu.url}/bot{TOKEN}/getUpdates",
                  json={"timeout": 0, "allowed_updates": ALLOWED_UPDATES}, timeout=5)
    project = make_project(
        make_owner(telegram_user_id=OWNER_TG), bot_token=TOKEN, bot_user_id=BOT_ID,
        bot_username="GoldClubBot",
    )
    channel = make_resource(project, "Gold Club Channel", chat_id=CHANNEL)
    month = make_plan(project, "30 days", "day", 30, resources=[channel])
    trial = make_plan(project, "1 day", "day", 1, resources=[channel])
    for user_id in (ANN, BOB, CAROL):
        activate(session, month, user_id, now)
    activate(session, trial, DAN, now - timedelta(days=3))  # Dan's trial ended long ago
    session.commit()
    ann_link = own_link(session, project, channel, ANN, now)
    bob_link = own_link(session, project, channel, BOB, now)
    carol_link = own_link(session, project, channel, CAROL, now)
    # Bob joined while the bot was up, and it recorded that (and revoked his spent link).
    assert emu.open_invite_link(BOB, bob_link) == "joined"
    bob = membership_for(session, project.id, customer_id(session, BOB), channel.id)
    bob.joined_at = now
    session.commit()

    # The bot is down. Ann joins, Bob leaves, Dan comes in through Carol's forwarded link.
    harness.at(now + timedelta(hours=1))
    assert emu.open_invite_link(ANN, ann_link) == "joined"
    emu.user_leaves(CHANNEL, BOB)
    assert emu.open_invite_link(DAN, carol_link) == "joined"
    # Two days later Telegram has thrown those updates away.
    harness.at(now + timedelta(hours=49))
    assert emu.pending_updates(TOKEN) == []

    end_test_transaction()
    harness.queue.enqueue(reconciler.sweep_reconcile)
    harness.work()

    channel_id = channel.id
    for user_id in (ANN, BOB, CAROL, DAN):
        assert emu.is_member(CHANNEL, user_id) == recorded_in(session, user_id, channel_id), user_id
    assert [u for u in (ANN, BOB, CAROL, DAN) if emu.is_member(CHANNEL, u)] == [ANN]
    assert emu.member_status(CHANNEL, DAN) == "left"  # removed, not banned for good
    # The spent links no longer work for anyone: Ann's (she is in) and Bob's (he left).
    assert emu.open_invite_link(DAN, ann_link) == "refused:revoked"
    assert emu.open_invite_link(DAN, bob_link) == "refused:revoked"
    removal = session.query(Removal).one()
    assert (removal.customer_id, removal.status) == (customer_id(session, DAN), "done")
    report = emu.sent_messages(TOKEN, OWNER_TG)[-1]["text"]
    # Ann and Dan joined unseen, Bob left unseen, Dan is being removed; Ann's and Bob's links.
    assert "2 joined without the bot seeing it" in report
    assert "1 left without the bot seeing it" in report
    assert "1 in without access, being removed" in report
    assert "2 used invite links revoked" in report
    assert db.session.get(Resource, channel_id).reconciled_at is not None

    # A second reconcile finds nothing more to change and tells the owner nothing.
    told = len(emu.sent_messages(TOKEN, OWNER_TG))
    harness.queue.enqueue(reconciler.sweep_reconcile)
    harness.work()
    assert len(emu.sent_messages(TOKEN, OWNER_TG)) == told
    assert session.query(Removal).count() == 1


def test_the_reconcile_runs_from_rq_cron_well_within_the_24_hours_telegram_keeps_updates(
    harness,
):
    scheduler = CronScheduler(connection=harness.redis)
    scheduler.load_config_from_file("webapp.cron")  # what `rq cron webapp.cron` loads
    [job] = [job for job in scheduler.get_jobs() if job.func is reconciler.sweep_reconcile]
    assert job.interval == reconciler.RECONCILE_EVERY < 24 * 3600


def test_the_report_reaches_an_owner_whose_account_speaks_russian_in_russian(
    harness, session, now
):
    emu = harness.emu
    emu.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    emu.add_user(OWNER_TG, "Olga")
    emu.start_bot(OWNER_TG, TOKEN)
    emu.add_user(ANN, "Ann")
    emu.start_bot(ANN, TOKEN)
    emu.add_chat(CHANNEL, "channel", "Gold Club Channel")
    emu.set_chat_admin(CHANNEL, BOT_ID, can_invite_users=True, can_restrict_members=True)
    project = make_project(
        make_owner(telegram_user_id=OWNER_TG, language="ru"), bot_token=TOKEN, bot_user_id=BOT_ID,
        bot_username="GoldClubBot",
    )
    channel = make_resource(project, "Gold Club Channel", chat_id=CHANNEL)
    activate(session, make_plan(project, "30 days", "day", 30, resources=[channel]), ANN, now)
    session.commit()
    ann_link = own_link(session, project, channel, ANN, now)
    assert emu.open_invite_link(ANN, ann_link) == "joined"  # while the bot was down

    end_test_transaction()
    harness.queue.enqueue(reconciler.sweep_reconcile)
    harness.work()

    report = emu.sent_messages(TOKEN, OWNER_TG)[-1]["text"]
    assert report.startswith("🔄 Gold Club Channel: сверка с записями Admit:")
    assert "1 участник вступил без ведома бота: Ann" in report
    assert "1 использованная ссылка-приглашение отозвана" in report


def test_the_report_counts_in_the_owners_language_with_its_plural_forms():
    report = reconcile.ReconcileReport(
        title="Gold <Club>", joins=[f"Fan {i}" for i in range(12)], leaves=["Bob", "Eve"],
        links_to_revoke=["a", "b", "c", "d", "e"],
    )
    russian = texts.reconcile_report(report, "ru")
    assert "🔄 <b>Gold &lt;Club&gt;</b>: сверка с записями Admit:" in russian
    assert "12 участников вступили без ведома бота: Fan 0," in russian
    assert "Fan 9 и ещё 2" in russian and "Fan 10" not in russian
    assert "2 участника вышли без ведома бота: Bob, Eve" in russian
    assert "5 использованных ссылок-приглашений отозвано" in russian
    english = texts.reconcile_report(report, "en")
    assert "12 joined without the bot seeing it: Fan 0," in english
    assert "Fan 9 and 2 more" in english and "5 used invite links revoked" in english
    single = reconcile.ReconcileReport(title="Gold", links_to_revoke=["a"])
    assert texts.reconcile_report(single) == "🔄 <b>Gold</b> was compared with Admit's records:\n" \
        "• 1 used invite link revoked"
