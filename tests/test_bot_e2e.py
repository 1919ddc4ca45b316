"""The membership bot end to end: the real ``python -m bot`` process against the Bot API emulator.

Each test makes its own project (a fresh token the running bot picks up within a second), its own
users and chats, and commits them so the bot process sees them.
"""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.bot_process import (  # noqa: F401 - fixtures
    BotProcess,
    bot_process_fixture,
    emu_fixture,
    unique_id,
    wait_handled,
    wait_polling,
    wait_until,
)
from tests.conftest import NOW
from webapp.domain.memberships import INVITE_LINK_LIFETIME
from webapp.extensions import db
from webapp.models import (
    AccessCode,
    Activation,
    Batch,
    Customer,
    FunnelStep,
    Membership,
    Resource,
)

pytestmark = pytest.mark.slow


@dataclass
class World:
    token: str
    project_id: int
    owner_id: int
    owner_tg: int
    chat_id: int
    resource_id: int
    plan_id: int
    bot: BotProcess


def text_of(message: dict) -> str:
    return message.get("text") or message.get("caption") or ""


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard") or [] for b in row]


def count(model, *where) -> int:
    """Rows now, read in a transaction of its own (the bot process writes in between)."""
    db.session.rollback()
    try:
        return db.session.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        db.session.rollback()


@pytest.fixture
def world(app_ctx, emu, bot_process) -> World:
    """A project with a linked owner, one channel where the bot is admin, and a 3-month plan."""
    n = unique_id()
    bot_id = 800000 + n
    token = f"{bot_id}:TEST-{n}"
    owner_tg = 900000 + n
    chat_id = -1002000000000 - n
    emu.add_bot(token, username=f"GoldClub{n}Bot", first_name="Gold Club")
    emu.add_user(owner_tg, "Olga", "Owner", username=f"olga{n}")
    emu.start_bot(owner_tg, token)  # she linked her account with /start in this bot
    emu.add_chat(chat_id, "channel", title="Gold Club Channel")
    emu.set_chat_admin(chat_id, bot_id, can_invite_users=True, can_restrict_members=True)
    owner = factories.make_owner(telegram_user_id=owner_tg)
    project = factories.make_project(
        owner, bot_token=token, bot_user_id=bot_id, bot_username=f"GoldClub{n}Bot"
    )
    resource = factories.make_resource(project, chat_id=chat_id, title="Gold Club Channel")
    plan = factories.make_plan(project, name="3 months", resources=[resource])
    made = World(
        token, project.id, owner.id, owner_tg, chat_id, resource.id, plan.id, bot_process
    )
    db.session.commit()
    wait_polling(emu, token)
    yield made
    # Let the bot finish what the test set off (e.g. a join event) before the tables are emptied.
    emu.wait_for(lambda e: not e.pending_updates(token), description="the bot to be idle")


def new_code(world: World, **fields) -> str:
    """A code of the world's plan, committed; the session is left with no transaction open
    (on SQLite every transaction holds the write lock the bot process needs)."""
    plan = db.session.get(factories.Plan, world.plan_id)
    text = factories.make_code(plan, NOW, **fields).code
    db.session.commit()
    return text


def new_customer(emu) -> int:
    user_id = 500000 + unique_id()
    emu.add_user(user_id, "Ann", "Lee", username=f"ann{user_id}")
    return user_id


def say(emu, world: World, user_id: int, text: str) -> dict:
    """The customer sends ``text``; returns once the bot has handled it."""
    update = emu.send_message(world.token, user_id, text)
    handled(emu, world, update)
    return update


def handled(emu, world: World, update: dict) -> None:
    try:
        wait_handled(emu, world.token, update["update_id"])
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- bot log ---\n{world.bot.log()}") from None


def last_message(emu, world: World, chat_id: int) -> dict:
    messages = emu.sent_messages(world.token, chat_id)
    assert messages, "the bot sent nothing"
    return messages[-1]


# ---- activation link ---------------------------------------------------------------------------


def test_activation_link_confirms_with_a_join_button_that_lets_the_customer_in(emu, world):
    code = new_code(world, max_activations=10)
    ann = new_customer(emu)

    say(emu, world, ann, f"/start {code}")

    confirmation = last_message(emu, world, ann)
    assert "Code accepted" in text_of(confirmation)
    assert "Gold Club, 3 months" in text_of(confirmation)
    assert "(UTC)" in text_of(confirmation)
    [join] = buttons(confirmation)
    assert join["text"] == "Join: Gold Club Channel"
    link_call = emu.calls(world.token, "createChatInviteLink")[-1]["params"]
    assert int(link_call["member_limit"]) == 1
    assert len(link_call["name"]) <= 32

    notice = emu.wait_for_message(world.token, world.owner_tg, contains="activated")
    assert code in text_of(notice)
    assert f"@ann{ann}" in text_of(notice)
    assert "9 of 10 activations left" in text_of(notice)

    assert emu.open_invite_link(ann, join["url"]) == "joined"
    assert emu.is_member(world.chat_id, ann)
    wait_until(
        lambda: count(Membership, Membership.joined_at.is_not(None)) == 1,
        what="the join recorded",
    )
    assert count(Activation) == 1
    # The link was for Ann alone: a second person cannot use it.
    bob = new_customer(emu)
    assert emu.open_invite_link(bob, join["url"]).startswith("refused")


def test_the_bot_process_keeps_the_tests_clock_for_activations_links_and_joins(emu, world):
    """One clock for every process: the bot dates what it does by the product's clock (here the
    test's "now", which is not today), and the links it makes expire by Telegram's clock."""
    code = new_code(world)
    ann = new_customer(emu)

    say(emu, world, ann, f"/start {code}")
    [join] = buttons(last_message(emu, world, ann))
    assert emu.open_invite_link(ann, join["url"]) == "joined"

    joined_at = wait_until(_first_join, what="the join recorded")
    assert joined_at == NOW
    assert _read(select(Activation.activated_at)) == NOW
    link_call = emu.calls(world.token, "createChatInviteLink")[-1]["params"]
    assert int(link_call["expire_date"]) == int((NOW + INVITE_LINK_LIFETIME).timestamp())


def _first_join():
    return _read(select(Membership.joined_at).where(Membership.joined_at.is_not(None)))


def _read(query):
    """One value, read in a transaction of its own (an open one would block the bot's writes)."""
    db.session.rollback()
    try:
        return db.session.scalars(query).first()
    finally:
        db.session.rollback()


def test_a_redelivered_start_does_not_activate_twice_and_sends_the_join_button_again(emu, world):
    code = new_code(world, max_activations=10)
    ann = new_customer(emu)
    first = say(emu, world, ann, f"/start {code}")

    # After a crash between the commit and the offset confirmation Telegram sends the same update
    # again (the emulator drops confirmed ids, so the copy carries a new id; the content is equal).
    again = emu.inject_update(world.token, {"update_id": first["update_id"] + 1000,
                                            "message": first["message"]})
    handled(emu, world, again)

    assert count(Activation) == 1
    messages = emu.sent_messages(world.token, ann)
    assert len(messages) == 2
    assert "already activated" in text_of(messages[1])
    assert buttons(messages[1])[0]["url"] == buttons(messages[0])[0]["url"]
    emu.wait_for_message(world.token, world.owner_tg, contains="activated")
    assert len(emu.sent_messages(world.token, world.owner_tg)) == 1


def test_a_crash_after_the_activation_neither_loses_nor_doubles_it(emu, world):
    code = new_code(world, max_activations=10)
    ann = new_customer(emu)
    emu.set_delay("createChatInviteLink", 5)  # the bot hangs right after its commit
    update = emu.send_message(world.token, ann, f"/start {code}")
    emu.wait_for(lambda e: e.calls(world.token, "createChatInviteLink"), description="link asked")
    assert count(Activation) == 1

    world.bot.crash()
    emu.set_delay("createChatInviteLink", 0)
    world.bot.start()
    handled(emu, world, update)  # delivered again: it was never confirmed

    assert count(Activation) == 1
    [answer] = emu.sent_messages(world.token, ann)
    assert "already activated" in text_of(answer)
    assert "Gold Club, 3 months" in text_of(answer)
    [join] = buttons(answer)
    assert emu.open_invite_link(ann, join["url"]) == "joined"


# ---- typed code --------------------------------------------------------------------------------


def test_typed_code_after_choosing_a_plan_survives_a_bot_restart(emu, world):
    code = new_code(world)
    ann = new_customer(emu)
    say(emu, world, ann, "/start")
    welcome = last_message(emu, world, ann)
    assert "Welcome" in text_of(welcome)
    [plan_button] = buttons(welcome)
    assert plan_button["text"] == "3 months"

    press = emu.press_button(world.token, ann, welcome["message_id"], plan_button["callback_data"])
    handled(emu, world, press)
    offer = last_message(emu, world, ann)
    [access] = buttons(offer)
    assert access["text"] == "🔑 Access code"
    press = emu.press_button(world.token, ann, offer["message_id"], access["callback_data"])
    handled(emu, world, press)
    assert "type your access code" in text_of(last_message(emu, world, ann))

    world.bot.restart()
    say(emu, world, ann, code.lower().replace("-", " "))

    confirmation = last_message(emu, world, ann)
    assert "Code accepted" in text_of(confirmation)
    assert buttons(confirmation)[0]["text"] == "Join: Gold Club Channel"
    assert count(Activation) == 1


def test_a_code_pasted_without_start_is_activated_too(emu, world):
    code = new_code(world)
    ann = new_customer(emu)
    say(emu, world, ann, f"my code is {code}")
    assert "activation link" in text_of(last_message(emu, world, ann))

    say(emu, world, ann, code)

    assert "Code accepted" in text_of(last_message(emu, world, ann))


# ---- refusals ----------------------------------------------------------------------------------


def test_every_refusal_has_its_own_message_and_changes_nothing(app_ctx, emu, world):
    from webapp.domain.rollback import rollback_code

    now = NOW
    expired = new_code(world)
    db.session.execute(
        AccessCode.__table__.update()
        .where(AccessCode.code == expired)
        .values(expires_at=now - timedelta(minutes=1))
    )
    used_up = new_code(world, max_activations=1)
    rolled_back = new_code(world)
    code_id = db.session.scalar(select(AccessCode.id).where(AccessCode.code == rolled_back))
    rollback_code(db.session, world.project_id, code_id, owner_id=None, now=now)
    db.session.commit()
    bob = new_customer(emu)
    say(emu, world, bob, f"/start {used_up}")
    ann = new_customer(emu)
    before = count(Activation)

    replies = {}
    for name, payload in [
        ("unknown", "NOPE-NOPE-NOPE-NOPE"),
        ("rolled back", rolled_back),
        ("expired", expired),
        ("used up", used_up),
        ("too long", "A" * 65),
    ]:
        say(emu, world, ann, f"/start {payload}")
        replies[name] = text_of(last_message(emu, world, ann))

    assert "not valid" in replies["unknown"]
    assert replies["rolled back"] == replies["unknown"]
    assert "expired" in replies["expired"]
    assert "maximum number of times" in replies["used up"]
    assert "not valid" in replies["too long"]
    say(emu, world, bob, f"/start {used_up}")
    assert "already activated" in text_of(last_message(emu, world, bob))
    assert count(Activation) == before
    # Nothing was granted, yet each refusal of a real code is in that code's funnel.
    db.session.rollback()
    refused = db.session.scalars(
        select(FunnelStep.detail)
        .join(Customer, Customer.id == FunnelStep.customer_id)
        .where(Customer.telegram_user_id == ann, FunnelStep.step == "refused")
    ).all()
    assert sorted(refused) == ["expired", "rolled_back", "used_up"]


def test_five_wrong_codes_in_ten_minutes_make_the_customer_wait_even_with_a_good_code(emu, world):
    good = new_code(world)
    ann = new_customer(emu)
    for attempt in range(5):
        say(emu, world, ann, f"/start WRONG-CODE-{attempt}")
    assert "wait 10 minutes" in text_of(last_message(emu, world, ann))

    say(emu, world, ann, f"/start {good}")

    assert "Too many wrong codes" in text_of(last_message(emu, world, ann))
    assert count(Activation) == 0
    # The counter is per customer: someone else is not held back.
    bob = new_customer(emu)
    say(emu, world, bob, f"/start {good}")
    assert "Code accepted" in text_of(last_message(emu, world, bob))


def test_bad_input_gets_a_clear_reply_or_is_ignored_and_the_bot_keeps_working(emu, world):
    ann = new_customer(emu)
    group = -1003000000000 - unique_id()
    emu.add_chat(group, "supergroup", title="Some group")
    emu.add_member(group, ann)

    say(emu, world, ann, "/frobnicate")
    assert "don't know that command" in text_of(last_message(emu, world, ann))
    photo = emu.send_photo(world.token, ann, caption="my code")
    handled(emu, world, photo)
    assert "only read text" in text_of(last_message(emu, world, ann))
    say(emu, world, ann, "hello there")
    assert "activation link" in text_of(last_message(emu, world, ann))
    in_group = emu.send_message(world.token, ann, "/start", chat_id=group)
    handled(emu, world, in_group)
    assert emu.sent_messages(world.token, group) == []
    sent = say(emu, world, ann, "x")["message"]["message_id"]
    # Edits are not even asked for (allowed_updates): a code is read when it is sent.
    assert emu.edit_message(world.token, ann, sent, "edited") is None
    say(emu, world, ann, "/start")
    welcome = last_message(emu, world, ann)
    for data in ("plan:999999", "plan:abc", "nc:zz:plan:1", "garbage", "plan:1:drop"):
        press = emu.press_button(world.token, ann, welcome["message_id"], data, check=False)
        handled(emu, world, press)
    assert "no longer works" in text_of(last_message(emu, world, ann))
    assert all(answer["answered"] for answer in emu.callback_answers(world.token).values())

    code = new_code(world)
    say(emu, world, ann, f"/start {code}")
    assert "Code accepted" in text_of(last_message(emu, world, ann))
    assert "Traceback" not in world.bot.log()


# ---- owners ------------------------------------------------------------------------------------


def test_owner_link_links_the_telegram_account_once(app_ctx, emu, world):
    from webapp.models import Owner

    token = "owner_" + "T" * 32
    owner = db.session.get(Owner, world.owner_id)
    owner.telegram_user_id = None
    owner.telegram_link_token = token
    owner.telegram_link_issued_at = NOW - timedelta(hours=2)  # links work for an hour
    db.session.commit()
    olga = new_customer(emu)

    say(emu, world, olga, f"/start {token}")
    assert "not valid or has already been used" in text_of(last_message(emu, world, olga))
    db.session.rollback()
    owner = db.session.get(Owner, world.owner_id)
    assert owner.telegram_user_id is None
    owner.telegram_link_issued_at = NOW
    db.session.commit()

    say(emu, world, olga, f"/start {token}")
    assert "now linked" in text_of(last_message(emu, world, olga))
    mallory = new_customer(emu)
    say(emu, world, mallory, f"/start {token}")
    assert "not valid or has already been used" in text_of(last_message(emu, world, mallory))

    db.session.rollback()
    owner = db.session.get(Owner, world.owner_id)
    assert (owner.telegram_user_id, owner.telegram_link_token) == (olga, None)
    db.session.rollback()


def newcode_step(emu, world: World, label: str) -> dict:
    """Press the button labelled ``label`` on the bot's last message to the owner."""
    message = last_message(emu, world, world.owner_tg)
    [button] = [b for b in buttons(message) if b["text"] == label]
    press = emu.press_button(world.token, world.owner_tg, message["message_id"],
                             button["callback_data"])
    handled(emu, world, press)
    return last_message(emu, world, world.owner_tg)


def test_newcode_makes_a_single_code_with_its_activation_link(emu, world):
    say(emu, world, world.owner_tg, "/newcode")
    assert "Which plan?" in text_of(last_message(emu, world, world.owner_tg))
    newcode_step(emu, world, "3 months")
    newcode_step(emu, world, "5")
    newcode_step(emu, world, "No")
    done = newcode_step(emu, world, "Single")

    db.session.rollback()
    [code] = db.session.scalars(select(AccessCode)).all()
    assert (code.max_activations, code.expires_at, code.batch_id) == (5, None, None)
    assert "https://t.me/GoldClub" in text_of(done)
    assert f"?start={code.code}" in text_of(done)
    db.session.rollback()
    # The wizard is over: its old buttons change nothing.
    previous = emu.sent_messages(world.token, world.owner_tg)[-2]
    press = emu.press_button(world.token, world.owner_tg, previous["message_id"],
                             buttons(previous)[0]["callback_data"])
    handled(emu, world, press)
    assert "finished or older" in text_of(last_message(emu, world, world.owner_tg))
    assert count(AccessCode) == 1


def test_newcode_bulk_sends_a_csv_document_of_every_code(emu, world):
    say(emu, world, world.owner_tg, "/newcode")
    newcode_step(emu, world, "3 months")
    newcode_step(emu, world, "Other…")
    say(emu, world, world.owner_tg, "zero")
    assert "whole number" in text_of(last_message(emu, world, world.owner_tg))
    say(emu, world, world.owner_tg, "3")
    newcode_step(emu, world, "Pick a date…")
    say(emu, world, world.owner_tg, "2020-01-01")
    assert "in the future" in text_of(last_message(emu, world, world.owner_tg))
    say(emu, world, world.owner_tg, "2030-06-30")
    newcode_step(emu, world, "Bulk…")
    say(emu, world, world.owner_tg, "501")
    assert "from 2 to 500" in text_of(last_message(emu, world, world.owner_tg))
    assert count(AccessCode) == 0
    say(emu, world, world.owner_tg, "25")

    document = last_message(emu, world, world.owner_tg)
    assert document["document"]["file_name"] == "gold-club-3-months-25-codes.csv"
    rows = list(csv.DictReader(io.StringIO(document["_file_bytes"].decode("utf-8-sig"))))
    assert len(rows) == 25
    assert {r["Max activations"] for r in rows} == {"3"}
    assert {r["Expires (UTC)"] for r in rows} == {"2030-07-01 00:00"}
    assert all(r["Activation link"].endswith(r["Code"]) for r in rows)
    assert count(AccessCode) == 25
    assert count(Batch) == 1


def test_newcode_from_anyone_but_the_linked_owner_is_refused_and_makes_nothing(emu, world):
    stranger = new_customer(emu)
    say(emu, world, stranger, "/newcode")
    assert "Only the owner" in text_of(last_message(emu, world, stranger))
    assert count(AccessCode) == 0


def test_bot_made_admin_of_a_channel_becomes_a_resource_and_losing_it_is_reported(emu, world):
    chat = -1004000000000 - unique_id()
    emu.add_chat(chat, "supergroup", title="Gold Club Chat")
    added = emu.bot_added_as_admin(world.token, chat, world.owner_tg, can_restrict_members=False)
    handled(emu, world, added)

    db.session.rollback()
    resource = db.session.scalars(select(Resource).where(Resource.chat_id == chat)).one()
    assert (resource.title, resource.chat_type) == ("Gold Club Chat", "supergroup")
    assert (resource.can_invite_users, resource.can_restrict_members) == (True, False)
    db.session.rollback()
    notice = last_message(emu, world, world.owner_tg)
    assert "now an administrator" in text_of(notice)
    assert "ban users" in text_of(notice)

    removed = emu.bot_removed(world.token, chat, world.owner_tg)
    handled(emu, world, removed)
    assert count(Resource, Resource.chat_id == chat, Resource.bot_is_admin.is_(False)) == 1
    assert "no longer an administrator" in text_of(last_message(emu, world, world.owner_tg))


def test_a_chat_where_a_stranger_made_the_bot_admin_waits_and_its_title_is_not_shown(emu, world):
    chat = -1004000000000 - unique_id()
    stranger = new_customer(emu)
    emu.add_chat(chat, "supergroup", title="Official Gold Club — pay here")
    added = emu.bot_added_as_admin(world.token, chat, stranger)
    handled(emu, world, added)

    db.session.rollback()
    resource = db.session.scalars(select(Resource).where(Resource.chat_id == chat)).one()
    assert resource.is_pending and not resource.is_usable
    assert resource.pending_by_user_id == stranger
    db.session.rollback()
    notice = text_of(last_message(emu, world, world.owner_tg))
    assert "Someone else made the bot an administrator" in notice
    assert "pay here" not in notice


# ---- Telegram failures -------------------------------------------------------------------------


def test_429_and_500_from_telegram_still_give_one_activation_and_one_confirmation(emu, world):
    code = new_code(world, max_activations=10)
    ann = new_customer(emu)
    emu.fail_next("createChatInviteLink", 500, times=2, token=world.token)
    emu.fail_next("sendMessage", 429, retry_after=1, token=world.token)
    emu.fail_next("sendMessage", 502, description="Bad Gateway", token=world.token)
    emu.fail_next("getUpdates", 500, token=world.token)

    say(emu, world, ann, f"/start {code}")
    emu.wait_for_message(world.token, world.owner_tg, contains="activated")

    assert count(Activation) == 1
    [confirmation] = emu.sent_messages(world.token, ann)
    assert "Code accepted" in text_of(confirmation)
    assert len(buttons(confirmation)) == 1
    assert len(emu.sent_messages(world.token, world.owner_tg)) == 1
    assert emu.stats()["injected_failures"] >= 5


def run_worker_burst(world: World) -> None:
    """The real RQ worker code path, in a process of its own, until the queue is empty."""
    import subprocess
    import sys

    script = (
        "import os; from rq import SimpleWorker;"
        "from webapp.queues import QUEUE_NAME, redis_from_url;"
        "SimpleWorker([QUEUE_NAME], connection=redis_from_url(os.environ['REDIS_URL']))"
        ".work(burst=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=world.bot.env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()


def test_a_join_link_that_cannot_be_made_follows_later_and_the_activation_stands(emu, world):
    code = new_code(world)
    ann = new_customer(emu)
    emu.fail_next(
        "createChatInviteLink",
        400,
        "Bad Request: not enough rights to manage chat invite links",
        token=world.token,
    )

    say(emu, world, ann, f"/start {code}")

    confirmation = last_message(emu, world, ann)
    assert "Code accepted" in text_of(confirmation)
    assert "will follow" in text_of(confirmation)
    assert buttons(confirmation) == []
    assert count(Activation) == 1
    emu.wait_for_message(world.token, world.owner_tg, contains="could not be made")

    run_worker_burst(world)

    follow_up = last_message(emu, world, ann)
    assert "join links" in text_of(follow_up)
    [join] = buttons(follow_up)
    assert emu.open_invite_link(ann, join["url"]) == "joined"


def test_join_requests_are_approved_for_entitled_customers_only(emu, world):
    import requests

    code = new_code(world)
    ann = new_customer(emu)
    say(emu, world, ann, f"/start {code}")
    answer = requests.post(
        f"{emu.url}/bot{world.token}/createChatInviteLink",
        params={"chat_id": world.chat_id, "creates_join_request": "true"},
        timeout=5,
    ).json()
    link = answer["result"]["invite_link"]
    stranger = new_customer(emu)

    assert emu.open_invite_link(stranger, link) == "requested"
    assert emu.open_invite_link(ann, link) == "requested"

    emu.wait_for(lambda e: e.is_member(world.chat_id, ann), description="Ann approved")
    emu.wait_for(lambda e: not e.join_requests(world.chat_id), description="requests decided")
    assert not emu.is_member(world.chat_id, stranger)
    emu.wait_for_message(world.token, stranger, contains="declined")


def test_someone_using_a_link_made_for_another_customer_is_removed(emu, world):
    code = new_code(world)
    ann = new_customer(emu)
    say(emu, world, ann, f"/start {code}")
    [join] = buttons(last_message(emu, world, ann))
    mallory = new_customer(emu)

    assert emu.open_invite_link(mallory, join["url"]) == "joined"

    emu.wait_for(lambda e: not e.is_member(world.chat_id, mallory), description="Mallory out")
    assert emu.open_invite_link(ann, join["url"]) == "refused:revoked"
    # She never started the bot: Telegram would refuse a message to her, so none is tried.
    assert emu.sent_messages(world.token, mallory) == []
    # Ann asks again and gets a fresh link of her own.
    say(emu, world, ann, f"/start {code}")
    [fresh] = buttons(last_message(emu, world, ann))
    assert fresh["url"] != join["url"]
    assert emu.open_invite_link(ann, fresh["url"]) == "joined"


# ---- the process -------------------------------------------------------------------------------


def test_a_deleted_project_stops_polling_without_a_restart(emu, world):
    from webapp.models import Project

    db.session.get(Project, world.project_id).deleted_at = NOW
    db.session.commit()

    wait_until(
        lambda: f"project {world.project_id}: stopping its bot" in world.bot.log(),
        what="the poller to stop",
    )
    assert world.bot.running


def test_sigterm_stops_the_bot_cleanly_and_promptly(emu, world):
    import time

    code = new_code(world)
    ann = new_customer(emu)
    say(emu, world, ann, f"/start {code}")

    started = time.monotonic()
    assert world.bot.stop() == 0
    assert time.monotonic() - started < 5
    assert "membership bot stopped" in world.bot.log()
    # The handled update was confirmed on the way out: a new process does not get it again.
    assert emu.pending_updates(world.token) == []
    world.bot.start()


def test_a_rush_on_one_code_is_not_held_up_by_telegrams_limit_on_the_owners_chat(emu, world):
    import time

    code = new_code(world, max_activations=100)
    emu.set_rate_limit(per_bot_per_second=30, per_chat_per_second=1)
    customers = [new_customer(emu) for _ in range(12)]
    started = time.monotonic()
    updates = [emu.send_message(world.token, c, f"/start {code}") for c in customers]
    for update in updates:
        handled(emu, world, update)
    elapsed = time.monotonic() - started
    emu.wait_for(
        lambda e: sum(text_of(m).count("🔑") for m in e.sent_messages(world.token, world.owner_tg))
        == 12,
        timeout=20,
        description="every activation reported to the owner",
    )
    emu.set_rate_limit(None, None, None)

    assert all("Code accepted" in text_of(last_message(emu, world, c)) for c in customers)
    # One message a second to the owner would take 12 s if each handler waited for it.
    assert elapsed < 6, elapsed
    assert len(emu.sent_messages(world.token, world.owner_tg)) < 12
