"""The membership bot end to end: the real ``python -m bot`` process against the Bot API emulator.

Each test makes its own project (a fresh token the running bot picks up within a second), its own
users and chats, and commits them so the bot process sees them.
"""

from dataclasses import dataclass

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
from webapp.extensions import db
from webapp.models import (
    Activation,
    Membership,
    utcnow,
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
    return made


def new_code(world: World, **fields) -> str:
    """A code of the world's plan, committed; the session is left with no transaction open
    (on SQLite every transaction holds the write lock the bot process needs)."""
    plan = db.session.get(factories.Plan, world.plan_id)
    text = factories.make_code(plan, utcnow(), **fields).code
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
