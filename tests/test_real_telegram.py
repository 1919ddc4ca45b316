"""What real Telegram does and the emulator now insists on: the nine ways Admit broke there.

Each test drives the product against the strict emulator (the default): the handlers get the
updates the emulator queued, the jobs run as a worker would, and the emulator refuses whatever the
real server would refuse.
"""

from datetime import timedelta

import pytest
import requests
from telebot import types

import webapp.worker
from bot.dispatch import on_message
from bot.handlers import ALLOWED_UPDATES, members
from tests.conftest import NOW
from tests.factories import make_owner, make_plan, make_project, make_resource
from tests.test_jobs import BOT_ID, TOKEN, Harness, activate, end_test_transaction
from tests.test_jobs import bot_api as bot_api  # noqa: F401 - the fixture
from webapp import jobs, telegram
from webapp.domain import lifecycle
from webapp.domain.memberships import membership_for
from webapp.extensions import db
from webapp.models import Project, Removal, Resource

OWNER_TG = 7900
ANN, BOB, EVE = 5001, 5002, 5666  # Eve never talked to the bot
CHANNEL, GROUP, NEW_GROUP = -1001000000201, -4000201, -1001000000299


@pytest.fixture
def harness(bot_api, app, monkeypatch):  # noqa: F811
    monkeypatch.setattr(webapp.worker, "_app", app)
    return Harness(app, bot_api)


@pytest.fixture
def world(harness, session):
    """Gold Club: a channel and a basic group, Ann (a customer) and Eve (a stranger)."""
    emu = harness.emu
    emu.add_bot(TOKEN, "GoldClubBot", "Gold Club")
    emu.add_user(OWNER_TG, "Olga")
    emu.start_bot(OWNER_TG, TOKEN)
    for user_id, name in ((ANN, "Ann"), (BOB, "Bob"), (EVE, "Eve")):
        emu.add_user(user_id, name)
    for user_id in (ANN, BOB):
        emu.start_bot(user_id, TOKEN)  # customers activated their codes in the bot
    emu.add_chat(CHANNEL, "channel", "Gold Club Channel")
    emu.add_chat(GROUP, "group", "Gold Club Group")
    for chat_id in (CHANNEL, GROUP):
        emu.set_chat_admin(chat_id, OWNER_TG, status="creator")
        emu.set_chat_admin(chat_id, BOT_ID, can_invite_users=True, can_restrict_members=True)
    project = make_project(
        make_owner(telegram_user_id=OWNER_TG),
        bot_token=TOKEN,
        bot_user_id=BOT_ID,
        bot_username="GoldClubBot",
    )
    channel = make_resource(project, "Gold Club Channel", chat_id=CHANNEL)
    group = make_resource(project, "Gold Club Group", chat_id=GROUP, chat_type="group")
    plan = make_plan(project, "3 days", "day", 3, resources=[channel, group])
    session.commit()
    # What the poller asks for: chat_member updates come only when listed.
    requests.post(f"{emu.url}/bot{TOKEN}/getUpdates",
                  json={"timeout": 0, "allowed_updates": ALLOWED_UPDATES}, timeout=5)
    return {"project": project, "channel": channel, "group": group, "plan": plan}


def handlers_for(app, project):
    from bot.handlers import ProjectHandlers

    return ProjectHandlers(app, project.id, TOKEN)


def deliver(emu, handlers, kind: str):
    """Hand the bot's queued updates of one kind to its handlers, as the poller would."""
    end_test_transaction()
    handled = 0
    for raw in emu.pending_updates(TOKEN):
        if kind not in raw:
            continue
        update = types.Update.de_json(raw)
        handler = {
            "chat_join_request": members.on_join_request,
            "chat_member": members.on_chat_member,
            "message": on_message,
        }[kind]
        handlers.unit(handler)(getattr(update, kind))
        handled += 1
    return handled


def customer_link(session, project, resource, user_id, now, **options):
    """The customer's own Join link, made by the bot and recorded as the product does."""
    from webapp.models import Customer

    customer = session.query(Customer).filter_by(telegram_user_id=user_id).one()
    link = telegram.create_invite_link(
        TOKEN, resource.chat_id, name="Admit", expire_date=now + timedelta(days=1), **options
    )
    membership = membership_for(session, project.id, customer.id, resource.id)
    membership.invite_link = link
    membership.invite_link_expires_at = now + timedelta(days=1)
    session.commit()
    return link


# -- 1. Messages to people who never started the bot ------------------------------------------


def test_a_stranger_asking_through_an_admit_link_is_told_before_the_request_is_declined(
    world, harness, app, session, now
):
    emu = harness.emu
    world["channel"].join_by_request = True
    session.commit()
    link = telegram.create_invite_link(
        TOKEN, CHANNEL, name="Admit @ann", creates_join_request=True
    )
    assert emu.open_invite_link(EVE, link) == "requested"
    handlers = handlers_for(app, world["project"])
    assert deliver(emu, handlers, "chat_join_request") == 1
    told = emu.sent_messages(TOKEN, EVE)
    assert len(told) == 1 and "declined" in told[0]["text"]
    assert emu.join_requests(CHANNEL) == [] and not emu.is_member(CHANNEL, EVE)
    assert [c for c in emu.calls(TOKEN, "sendMessage") if c["status"] != 200] == []


def test_an_intruder_who_never_started_the_bot_is_removed_without_a_message_telegram_refuses(
    world, harness, app, session, now
):
    emu = harness.emu
    activate(session, world["plan"], ANN, now)
    session.commit()
    link = customer_link(session, world["project"], world["channel"], ANN, now, member_limit=1)
    assert emu.open_invite_link(EVE, link) == "joined"  # Ann forwarded her link
    deliver(emu, handlers_for(app, world["project"]), "chat_member")
    assert emu.member_status(CHANNEL, EVE) == "left"  # out, and not banned
    assert emu.calls(TOKEN, "sendMessage") == []  # a 403 "can't initiate conversation" before


# -- 2. Basic groups ---------------------------------------------------------------------------


def test_a_removal_from_a_basic_group_is_done_not_a_false_failure(world, harness, session, now):
    emu = harness.emu
    result = activate(session, world["plan"], ANN, now)
    session.commit()
    emu.add_member(GROUP, ANN)
    emu.add_member(CHANNEL, ANN)
    harness.at(result.subscription.ends_at + timedelta(minutes=1))
    harness.sweep()
    removals = session.query(Removal).order_by(Removal.resource_id).all()
    assert [(r.status, r.last_error) for r in removals] == [("done", None), ("done", None)]
    assert not emu.is_member(GROUP, ANN) and not emu.is_member(CHANNEL, ANN)


def test_an_upgraded_group_keeps_its_plans_members_and_links_under_its_new_id(
    world, harness, app, session, now
):
    emu = harness.emu
    result = activate(session, world["plan"], ANN, now)
    session.commit()
    emu.add_member(GROUP, ANN)
    group_id = world["group"].id
    membership = membership_for(session, world["project"].id, result.customer.id, group_id)
    membership.joined_at = now
    session.commit()
    emu.upgrade_to_supergroup(GROUP, NEW_GROUP, by_user_id=OWNER_TG)
    # The service messages are lost (the bot was down): the removal meets the old id's 400.
    harness.at(result.subscription.ends_at + timedelta(minutes=1))
    harness.sweep()
    harness.at(result.subscription.ends_at + timedelta(minutes=3))
    harness.sweep()
    group = db.session.get(Resource, group_id, populate_existing=True)
    assert (group.chat_id, group.chat_type) == (NEW_GROUP, "supergroup")
    assert group in world["plan"].resources
    removal = session.query(Removal).filter_by(resource_id=group_id).one()
    assert removal.status == "done"
    assert emu.member_status(NEW_GROUP, ANN) == "left"


def test_the_upgrade_service_message_moves_the_resource(world, harness, app, session):
    emu = harness.emu
    emu.upgrade_to_supergroup(GROUP, NEW_GROUP, by_user_id=OWNER_TG)
    deliver(emu, handlers_for(app, world["project"]), "message")
    group = db.session.get(Resource, world["group"].id, populate_existing=True)
    assert (group.chat_id, group.chat_type) == (NEW_GROUP, "supergroup")


# -- 6. Ban without unban ----------------------------------------------------------------------


def test_a_ban_whose_unban_failed_is_lifted_later_by_a_job(world, harness, app, session, now):
    emu = harness.emu
    activate(session, world["plan"], BOB, now)
    session.commit()
    link = customer_link(session, world["project"], world["channel"], BOB, now, member_limit=1)
    assert emu.open_invite_link(EVE, link) == "joined"
    emu.fail_next("unbanChatMember", 500, times=telegram.MAX_ATTEMPTS)
    deliver(emu, handlers_for(app, world["project"]), "chat_member")
    assert emu.member_status(CHANNEL, EVE) == "kicked"  # out, but banned for now
    harness.work()
    assert emu.member_status(CHANNEL, EVE) == "left"  # a later Join link works for her


# -- 7. Error classification -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "description", "kind"),
    [
        (400, "Bad Request: CHAT_ADMIN_REQUIRED", telegram.NotEnoughRights),
        (400, "Bad Request: user not found", telegram.UserNotFound),
        (403, "Forbidden: the group chat was deleted", telegram.ChatNotFound),
        (403, "Forbidden: bot was kicked from the supergroup chat", telegram.NotEnoughRights),
        (403, "Forbidden: bot can't initiate conversation with a user", telegram.NotStarted),
        (400, "Bad Request: method is available for supergroup and channel chats only",
         telegram.BasicGroupUnsupported),
    ],
)
def test_telegrams_real_error_texts_are_told_apart(world, harness, code, description, kind):
    harness.emu.fail_next("banChatMember", code, description)
    with pytest.raises(telegram.TelegramError) as raised:
        telegram.remove_member(TOKEN, CHANNEL, ANN)
    assert type(raised.value) is kind


def test_a_missing_user_is_not_reported_as_a_deleted_chat(world, harness):
    with pytest.raises(telegram.UserNotFound):
        telegram.get_chat_member(TOKEN, CHANNEL, 999999)
    said = jobs.removal_failure(telegram.UserNotFound("Bad Request: user not found"), "Chat")
    assert "no longer knows this customer" in said and "Chat was not found" not in said


# -- 8. Retries that are not safe --------------------------------------------------------------


def test_a_message_whose_answer_was_lost_is_not_sent_twice(world, harness):
    harness.emu.fail_next("sendMessage", disconnect=True, after=True)
    with pytest.raises(telegram.Uncertain):
        telegram.send_message(TOKEN, ANN, "Your access ends tomorrow.")
    assert len(harness.emu.sent_messages(TOKEN, ANN)) == 1


def test_an_invite_link_whose_answer_was_lost_is_not_made_twice(world, harness):
    harness.emu.fail_next("createChatInviteLink", disconnect=True, after=True)
    with pytest.raises(telegram.Uncertain):
        telegram.create_invite_link(TOKEN, CHANNEL, name="Admit @ann", member_limit=1)
    made = [link for link in harness.emu.invite_links(CHANNEL) if not link["is_primary"]]
    assert len(made) == 1


def test_a_join_through_an_unrecorded_admit_link_still_requires_access(
    world, harness, app, session
):
    emu = harness.emu
    # The link whose answer was lost: made by the bot, recorded nowhere.
    emu.fail_next("createChatInviteLink", disconnect=True, after=True)
    with pytest.raises(telegram.Uncertain):
        telegram.create_invite_link(TOKEN, CHANNEL, name="Admit @ann", member_limit=1)
    link = [x for x in emu.invite_links(CHANNEL) if not x["is_primary"]][0]["invite_link"]
    assert emu.open_invite_link(EVE, link) == "joined"
    deliver(emu, handlers_for(app, world["project"]), "chat_member")
    assert not emu.is_member(CHANNEL, EVE)
    assert emu.open_invite_link(BOB, link) == "refused:revoked"


# -- 9. Transport ------------------------------------------------------------------------------


def test_a_long_text_travels_in_the_body_not_the_url(world, harness):
    text = "Продление доступа — " * 200  # ~4,000 characters, ~24 kB once URL-encoded
    telegram.send_message(TOKEN, ANN, text[:4096], parse_mode=None)
    assert harness.emu.sent_messages(TOKEN, ANN)[0]["text"] == text[:4096]
    call = harness.emu.calls(TOKEN, "sendMessage")[-1]
    assert "link_preview_options" in call["params"]
    assert "disable_web_page_preview" not in call["params"]


def test_gunicorn_outlasts_the_dashboards_slowest_telegram_calls():
    from pathlib import Path

    procfile = (Path(__file__).resolve().parent.parent / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    timeout = int(web.split("--timeout", 1)[1].split()[0])
    # A dashboard request makes at most three Bot API calls (getMe, getWebhookInfo; getChat,
    # getChatMember), each within DASHBOARD_CALL_BUDGET.
    assert timeout > 3 * telegram.DASHBOARD_CALL_BUDGET


# -- the lifecycle after a lost answer ---------------------------------------------------------


def test_a_reminder_whose_answer_was_lost_is_not_sent_again(world, harness, session, now):
    result = activate(session, world["plan"], ANN, now)
    session.commit()
    harness.at(result.subscription.ends_at - timedelta(hours=23))
    harness.emu.fail_next("sendMessage", disconnect=True, after=True)
    harness.sweep()
    harness.at(result.subscription.ends_at - timedelta(hours=20))
    harness.sweep()
    assert len(harness.emu.sent_messages(TOKEN, ANN)) == 1
    end_test_transaction()
    assert lifecycle.due_reminders(session, NOW + timedelta(days=3), 10) == []


# -- 3. A webhook left on the token ------------------------------------------------------------


def poll_once(app, emu, project_id: int) -> None:
    """A real poller started for the project, answering one /help, then stopped."""
    from bot.polling import Poller

    poller = Poller(app, project_id, TOKEN)
    end_test_transaction()
    poller.start()
    try:
        emu.send_message(TOKEN, ANN, "/help")
        emu.wait_for_message(TOKEN, ANN, timeout=15)
    finally:
        poller.stop()
        poller.thread.join(10)


def test_a_webhook_left_by_another_platform_is_removed_and_the_bot_answers(
    world, harness, app, session
):
    emu = harness.emu
    emu.set_webhook(TOKEN, "https://old-platform.example/hook")
    poll_once(app, emu, world["project"].id)
    assert emu.calls(TOKEN, "deleteWebhook")[0]["status"] == 200
    # And the command menus: the customers', and the owner's in her own chat.
    # The customers' in every language the bot speaks (Telegram picks the user's), and the
    # owner's in her own chat.
    menus = [c["params"] for c in emu.calls(TOKEN, "setMyCommands")]
    assert [(m.get("scope"), m.get("language_code")) for m in menus] == [
        (None, None), (None, "en"), (None, "ru"), (None, "es"), (None, "pt"), (None, "uk"),
        ({"type": "chat", "chat_id": OWNER_TG}, None),
    ]
    described = {m.get("language_code"): {c["command"]: c["description"] for c in m["commands"]}
                 for m in menus if m.get("scope") is None}
    assert described["ru"]["cancel"] != described["en"]["cancel"]
    assert described["pt"]["help"] != described["en"]["help"]
    assert "newcode" not in described["ru"]
    assert "newcode" in [c["command"] for c in menus[-1]["commands"]]


def test_a_restarted_poller_sends_the_command_menus_again_only_when_they_changed(
    world, harness, app, session
):
    emu = harness.emu

    def menus_sent_after_a_poll():
        poll_once(app, emu, world["project"].id)
        return len(emu.calls(TOKEN, "setMyCommands"))

    assert menus_sent_after_a_poll() == 7
    # A restart, a lease moved: the same menus, not sent again.
    assert menus_sent_after_a_poll() == 7
    project = session.get(Project, world["project"].id)
    project.default_language = "ru"  # the menu without a language is now Russian
    session.commit()
    assert menus_sent_after_a_poll() == 14


# -- 5. Join requests not made through Admit ---------------------------------------------------


def test_a_request_through_the_owners_own_link_is_left_to_the_owner(world, harness, app):
    emu = harness.emu
    link = emu.user_creates_link(CHANNEL, OWNER_TG, creates_join_request=True, name="friends")
    assert emu.open_invite_link(EVE, link) == "requested"
    deliver(emu, handlers_for(app, world["project"]), "chat_join_request")
    assert [r["user_id"] for r in emu.join_requests(CHANNEL)] == [EVE]  # still waiting
    assert emu.calls(TOKEN, "declineChatJoinRequest") == []


def test_with_decline_strangers_on_such_a_request_is_answered_then_declined(
    world, harness, app, session
):
    emu = harness.emu
    world["channel"].decline_strangers = True
    session.commit()
    link = emu.user_creates_link(CHANNEL, OWNER_TG, creates_join_request=True, name="friends")
    assert emu.open_invite_link(EVE, link) == "requested"
    deliver(emu, handlers_for(app, world["project"]), "chat_join_request")
    assert emu.join_requests(CHANNEL) == []
    assert "declined" in emu.sent_messages(TOKEN, EVE)[0]["text"]


def test_in_join_request_mode_the_join_button_asks_and_only_the_entitled_get_in(
    world, harness, app, session, now
):
    from bot.join_links import issue_join_links

    emu = harness.emu
    world["channel"].join_by_request = True
    result = activate(session, world["plan"], ANN, now)
    session.commit()
    made = issue_join_links(
        session, world["project"].id, result.customer.id, [world["channel"].id], now
    )
    [(_title, link)] = made.links
    call = emu.calls(TOKEN, "createChatInviteLink")[-1]["params"]
    assert call.get("creates_join_request") in (True, "True", "true")
    assert "member_limit" not in call
    assert emu.open_invite_link(EVE, link) == "requested"  # forwarded to Eve
    assert emu.open_invite_link(ANN, link) == "requested"
    deliver(emu, handlers_for(app, world["project"]), "chat_join_request")
    assert emu.is_member(CHANNEL, ANN) and not emu.is_member(CHANNEL, EVE)
    # The link still works for Ann later: nothing to revoke, no race.
    assert not [x for x in emu.invite_links(CHANNEL) if x["invite_link"] == link][0]["is_revoked"]
