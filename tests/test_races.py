"""Read-then-act races of memberships, removals, ends and extensions, each side interleaved
deterministically: the emulator's ``before_answering`` hook runs the other side at the exact
moment one side waits for Telegram, or the domain steps are called in the racing order.
"""

from datetime import timedelta

from sqlalchemy import select
from telebot import types

from bot.dispatch import on_start
from bot.handlers import ALLOWED_UPDATES, members
from tests.conftest import NOW
from tests.factories import make_code, make_plan, make_project, make_resource, tg_user
from tests.outbox_world import ANN, CHANNEL, TOKEN, World, join_urls, world_fixture  # noqa: F401
from webapp import jobs, telegram
from webapp.domain import lifecycle, memberships
from webapp.domain.activation import activate_code
from webapp.domain.lifecycle import Outcome
from webapp.domain.rollback import rollback_code
from webapp.extensions import db
from webapp.models import AccessCode, Membership, OutboxMessage, Removal, Subscription


def listen_for_joins(world: World) -> None:
    """Ask for chat_member updates, as the bot's poller does."""
    bot = telegram.bot_for(TOKEN)
    telegram.call(
        lambda: bot.get_updates(allowed_updates=ALLOWED_UPDATES, timeout=5, long_polling_timeout=1)
    )


def deliver_joins(world: World) -> None:
    """Hand the bot the chat_member updates Telegram has for it, as its poller would."""
    seen = getattr(world, "seen_updates", set())
    world.seen_updates = seen
    db.session.commit()
    for update in world.emu.pending_updates(TOKEN):
        if update["update_id"] in seen or "chat_member" not in update:
            continue
        seen.add(update["update_id"])
        event = types.ChatMemberUpdated.de_json(update["chat_member"])
        world.handlers.unit(members.on_chat_member)(event)


def code_id_of(code: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(AccessCode.id).where(AccessCode.code == code))


def roll_back(world: World, code: str) -> None:
    """The owner confirms the rollback (in its own app context, as the web process would)."""
    with world.app.app_context():
        code_id = code_id_of(code)
        rollback_code(db.session, world.project_id, code_id, owner_id=None, now=NOW)
        db.session.commit()


def run_jobs(world: World) -> None:
    """The minute's sweep, then a worker draining the queue (here, on the test's app)."""
    from rq.worker import SimpleWorker

    db.session.commit()
    queue = jobs.get_queue()
    queue.enqueue(jobs.sweep_lifecycle)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    db.session.rollback()


def ann_texts(world: World) -> list[str]:
    return world.texts(ANN)


# ---- a rollback racing the activation's answer -------------------------------------------------


def test_a_rollback_while_the_join_link_is_made_sends_no_confirmation_and_no_working_link(world):
    code = world.code()
    made: list[str] = []

    def owner_rolls_back(params):
        world.emu.before_answering("createChatInviteLink", None)
        roll_back(world, code)

    world.emu.before_answering("createChatInviteLink", owner_rolls_back)
    world.start(ANN, code)
    made = [link["invite_link"] for link in world.emu.invite_links(CHANNEL)]

    assert not any("Code accepted" in t for t in ann_texts(world))
    [row] = world.rows("confirmation")
    assert (row.status, row.last_error) == ("cancelled", "access withdrawn")
    assert db.session.scalar(select(Membership.invite_link)) is None
    assert [link["is_revoked"] for link in world.emu.invite_links(CHANNEL)] == [True]
    assert world.emu.open_invite_link(ANN, made[0]) == "refused:revoked"

    run_jobs(world)
    run_jobs(world)  # the end notice is due once the removal is done
    texts = ann_texts(world)
    assert len(texts) == 1 and "withdrawn" in texts[0]


def test_a_rollback_just_before_the_confirmation_goes_is_told_after_it(world):
    code = world.code()
    seen_before_settle: list[list[int]] = []

    def owner_rolls_back(params):
        if int(params["chat_id"]) != ANN:
            return
        world.emu.before_answering("sendMessage", None)
        roll_back(world, code)
        with world.app.app_context():
            # The removal runs while the confirmation is still on its way.
            for removal_id in lifecycle.due_removal_ids(db.session, NOW):
                db.session.rollback()
                assert jobs.carry_out_removal(removal_id) == "done"
            seen_before_settle.append(lifecycle.due_end_notice_ids(db.session, NOW))
            db.session.rollback()

    world.emu.before_answering("sendMessage", owner_rolls_back)
    world.start(ANN, code)

    assert seen_before_settle == [[]]  # "withdrawn" waited for "Code accepted"
    [confirmation] = world.confirmations()
    link = join_urls(confirmation)[0]
    run_jobs(world)
    texts = ann_texts(world)
    assert [("Code accepted" in t, "withdrawn" in t) for t in texts] == [
        (True, False),
        (False, True),
    ]
    # The link handed out was recorded before the removal read it, so the removal revoked it.
    assert world.emu.open_invite_link(ANN, link) == "refused:revoked"


# ---- a removal racing the link it has not seen -------------------------------------------------


def test_a_link_stored_after_the_removal_read_the_membership_is_kept_and_admits_nobody(
    session, now
):
    project = make_project()
    channel = make_resource(project)
    plan = make_plan(project, resources=[channel])
    code = make_code(plan, now)
    result = activate_code(session, project.id, code.code, tg_user(ANN), now)
    membership = memberships.membership_for(session, project.id, result.customer.id, channel.id)
    rollback_code(session, project.id, code.id, owner_id=None, now=now)
    [removal] = session.scalars(select(Removal)).all()
    assert lifecycle.claim_removal(session, removal.id, now)
    work = lifecycle.removal_work(session, removal.id, now)
    assert work.invite_link is None  # nothing to revoke, as far as the job knows
    # Meanwhile a link is stored (a bot that made it before the rollback committed).
    stored = memberships.store_new_link(
        session, membership.id, None, "https://t.me/+late", now + timedelta(days=1), now
    )
    assert stored.link == "https://t.me/+late"

    lifecycle.settle_removal(session, removal.id, now, Outcome.done(), now, work.invite_link)

    session.refresh(membership)
    assert membership.invite_link == "https://t.me/+late"  # not forgotten unrevoked
    event = memberships.record_join(session, project.id, channel.chat_id, ANN, stored.link, now)
    assert event.unwelcome == "no_access"
    assert event.spent_link == "https://t.me/+late"


def test_a_join_through_a_bot_made_link_no_membership_records_is_judged_by_access(session, now):
    project = make_project()
    channel = make_resource(project)
    plan = make_plan(project, resources=[channel])
    code = make_code(plan, now)
    activate_code(session, project.id, code.code, tg_user(ANN), now)
    link = "https://t.me/+forgotten"

    stranger = memberships.record_join(session, project.id, channel.chat_id, 999, link, now, True)
    entitled = memberships.record_join(session, project.id, channel.chat_id, ANN, link, now, True)
    owners = memberships.record_join(session, project.id, channel.chat_id, 998, link, now, False)

    assert (stranger.unwelcome, stranger.spent_link) == ("no_access", link)
    assert entitled.unwelcome is None
    assert (owners.unwelcome, owners.spent_link) == (None, None)  # the owner's own link


def test_a_new_activation_racing_a_removal_leaves_the_customer_a_link_that_lets_them_back(world):
    listen_for_joins(world)
    first = world.code()
    world.start(ANN, first)
    [confirmation] = world.confirmations()
    assert world.emu.open_invite_link(ANN, join_urls(confirmation)[0]) == "joined"
    deliver_joins(world)
    second = world.code()

    def customer_activates_again(params):
        world.emu.before_answering("banChatMember", None)
        with world.app.app_context():
            on_start(world.handlers, ANN, tg_user(ANN), second)

    roll_back(world, first)
    world.emu.before_answering("banChatMember", customer_activates_again)
    run_jobs(world)  # the removal read "not entitled", then the activation won before the ban

    assert not world.emu.is_member(CHANNEL, ANN)
    latest = world.confirmations()[-1]
    assert world.emu.open_invite_link(ANN, join_urls(latest)[0]) == "joined"
    deliver_joins(world)
    assert world.emu.is_member(CHANNEL, ANN)  # welcome: their access is real
    db.session.rollback()
    assert db.session.scalar(select(Membership.invite_link)) == join_urls(latest)[0]


def test_a_ban_left_by_a_removal_is_lifted_when_the_customer_is_entitled_again(world):
    listen_for_joins(world)
    first = world.code()
    world.start(ANN, first)
    assert world.emu.open_invite_link(ANN, join_urls(world.confirmations()[-1])[0]) == "joined"
    deliver_joins(world)
    roll_back(world, first)
    world.emu.fail_next("unbanChatMember", 500, times=telegram.MAX_ATTEMPTS)
    run_jobs(world)  # banned, but the unban failed: the removal retries later
    assert world.emu.member_status(CHANNEL, ANN) == "kicked"
    world.start(ANN, world.code())  # entitled again before the retry is due
    link = join_urls(world.confirmations()[-1])[0]
    assert world.emu.open_invite_link(ANN, link) == "refused:banned"

    world.at(NOW + timedelta(minutes=5))
    run_jobs(world)  # the retry skips the removal, and lifts the ban it left

    db.session.rollback()
    assert db.session.scalar(select(Removal.status)) == "skipped"
    assert world.emu.open_invite_link(ANN, link) == "joined"


# ---- ends and extensions -----------------------------------------------------------------------


def test_an_extension_committed_before_the_end_job_keeps_the_subscription_open(session, now):
    project = make_project()
    plan = make_plan(project, "3 days", "day", 3)
    user = tg_user(ANN)
    sub = activate_code(session, project.id, make_code(plan, now).code, user, now).subscription
    after_end = sub.ends_at + timedelta(minutes=5)  # the sweep has not got to it yet

    renewed = activate_code(session, project.id, make_code(plan, now).code, user, after_end)

    assert renewed.subscription.id == sub.id and renewed.extended
    assert sub.ends_at == after_end + timedelta(days=3)  # from now, not from the past end
    assert lifecycle.end_subscription(session, sub.id, after_end) is None
    assert session.scalars(select(Removal)).all() == []


def test_an_end_committed_before_the_activation_makes_a_new_subscription(session, now):
    project = make_project()
    plan = make_plan(project, "3 days", "day", 3)
    user = tg_user(ANN)
    sub = activate_code(session, project.id, make_code(plan, now).code, user, now).subscription
    after_end = sub.ends_at + timedelta(minutes=5)
    assert lifecycle.end_subscription(session, sub.id, after_end) is not None

    renewed = activate_code(session, project.id, make_code(plan, now).code, user, after_end)

    assert renewed.subscription.id != sub.id and not renewed.extended
    [removal] = session.scalars(select(Removal)).all()
    assert lifecycle.claim_removal(session, removal.id, after_end)
    assert lifecycle.removal_work(session, removal.id, after_end).entitled  # skipped, not banned


# ---- refusals change nothing they need not -----------------------------------------------------


def test_already_activated_makes_no_fresh_link_for_a_chat_the_customer_is_in(world):
    listen_for_joins(world)
    code = world.code()
    world.start(ANN, code)
    [confirmation] = world.confirmations()
    assert world.emu.open_invite_link(ANN, join_urls(confirmation)[0]) == "joined"
    deliver_joins(world)
    links_before = len(world.emu.calls(TOKEN, "createChatInviteLink"))

    world.start(ANN, code)

    answer = world.emu.sent_messages(TOKEN, chat_id=ANN)[-1]
    assert "already" in answer["text"].lower()
    assert join_urls(answer) == []
    assert len(world.emu.calls(TOKEN, "createChatInviteLink")) == links_before
    db.session.rollback()
    assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.id > 2)) is None
    assert db.session.scalar(select(Subscription.ended_at)) is None
