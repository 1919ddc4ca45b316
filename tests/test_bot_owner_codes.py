"""The linked owner in Telegram: /code with Pause and Resume, and the daily digest with Retry.

End to end: the real bot process against the Bot API emulator (see tests/test_bot_e2e.py).
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

import webapp.worker
from bot.owner_codes import send_attention_digests
from tests import factories
from tests import test_bot_e2e as e2e
from tests.bot_process import bot_process_fixture, emu_fixture  # noqa: F401 - fixtures
from tests.conftest import NOW
from webapp import telegram
from webapp.extensions import db
from webapp.models import AccessCode, Customer, Owner, Removal, Subscription

pytestmark = pytest.mark.slow

world = e2e.world
say, last_message, text_of, buttons, handled = (
    e2e.say, e2e.last_message, e2e.text_of, e2e.buttons, e2e.handled
)


def press(emu, world, label_start: str) -> dict:
    message = last_message(emu, world, world.owner_tg)
    [button] = [b for b in buttons(message) if b["text"].startswith(label_start)]
    update = emu.press_button(world.token, world.owner_tg, message["message_id"],
                              button["callback_data"])
    handled(emu, world, update)
    return update


def activate_and_wait_for_the_owners_notice(emu, world, code: str) -> None:
    """A customer activates ``code``; the owner's notice (sent from the outbox, maybe after the
    update counts as handled) has arrived, so the owner's next answer is her last message."""
    say(emu, world, e2e.new_customer(emu), f"/start {code}")
    emu.wait_for_message(world.token, world.owner_tg, contains=code)


def test_code_command_shows_usage_and_pauses_then_resumes_the_code(emu, world):
    code = e2e.new_code(world, max_activations=5)
    activate_and_wait_for_the_owners_notice(emu, world, code)

    say(emu, world, world.owner_tg, f"/code {code.lower()}")
    answer = last_message(emu, world, world.owner_tg)
    assert "Usage: 1/5 activations" in text_of(answer) and "active" in text_of(answer)

    press(emu, world, "⏸ Pause")
    paused = last_message(emu, world, world.owner_tg)
    assert "Paused." in text_of(paused) and "keeps their access" in text_of(paused)
    bob = e2e.new_customer(emu)
    say(emu, world, bob, f"/start {code}")
    assert "paused" in text_of(last_message(emu, world, bob))
    db.session.rollback()
    assert db.session.scalars(select(Subscription)).one().ended_at is None  # Ann keeps access
    db.session.rollback()

    press(emu, world, "▶️ Resume")
    assert "Resumed." in text_of(last_message(emu, world, world.owner_tg))
    say(emu, world, bob, f"/start {code}")
    assert "Code accepted" in text_of(last_message(emu, world, bob))


def test_code_command_from_a_customer_or_for_an_unknown_code_changes_nothing(emu, world):
    code = e2e.new_code(world)
    ann = e2e.new_customer(emu)
    say(emu, world, ann, f"/code {code}")
    assert "Only the owner" in text_of(last_message(emu, world, ann))
    say(emu, world, world.owner_tg, "/code NOPE-NOPE")
    assert "has no code NOPE-NOPE" in text_of(last_message(emu, world, world.owner_tg))
    say(emu, world, world.owner_tg, "/code")
    assert "Send <code>/code</code>" in last_message(emu, world, world.owner_tg)["_source_text"]
    db.session.rollback()
    assert db.session.scalars(select(AccessCode)).one().paused_at is None
    db.session.rollback()


def test_daily_digest_lists_failed_removals_with_a_retry_button_and_ended_access(
    app_ctx, emu, world, monkeypatch
):
    monkeypatch.setattr(webapp.worker, "_app", app_ctx)
    project = db.session.get(factories.Project, world.project_id)
    project.created_at = NOW - timedelta(days=2)
    customer = Customer(project_id=world.project_id, telegram_user_id=777001, first_name="Ann")
    db.session.add(customer)
    db.session.flush()
    db.session.add(Subscription(
        project_id=world.project_id, customer_id=customer.id, plan_id=world.plan_id,
        started_at=NOW - timedelta(days=30), ends_at=NOW - timedelta(hours=2),
        ended_at=NOW - timedelta(hours=1), end_reason="expired",
    ))
    removal = Removal(
        project_id=world.project_id, customer_id=customer.id, resource_id=world.resource_id,
        reason="expired", status="failed", last_error="Bad Request: not enough rights",
    )
    db.session.add(removal)
    db.session.flush()
    removal_id = removal.id
    db.session.commit()  # and no transaction left open: on SQLite it would hold the write lock

    telegram.configure(emu.url)
    try:
        assert send_attention_digests() == {"sent": 1}
        assert send_attention_digests() == {"sent": 0}  # once a day
    finally:
        telegram.configure("http://127.0.0.1:9")
    digest = last_message(emu, world, world.owner_tg)
    assert "daily summary" in text_of(digest)
    assert "Ann could not be removed from Gold Club Channel" in text_of(digest)
    assert "Access ended" in text_of(digest) and "period over" in text_of(digest)

    press(emu, world, "🔁 Retry")
    db.session.rollback()
    assert db.session.get(Removal, removal_id).status == "pending"
    db.session.rollback()
    owner = db.session.get(Owner, world.owner_id)
    assert owner.digest_sent_at == NOW
    db.session.rollback()


def test_an_owner_whose_account_speaks_russian_gets_the_code_card_and_its_buttons_in_russian(
    emu, world
):
    owner = db.session.get(Owner, world.owner_id)
    owner.language = "ru"
    code = e2e.new_code(world, max_activations=5)  # commits the language too
    activate_and_wait_for_the_owners_notice(emu, world, code)

    say(emu, world, world.owner_tg, f"/code {code}")
    card = last_message(emu, world, world.owner_tg)
    assert "Активации: 1/5" in text_of(card) and "активен" in text_of(card)
    assert "Тариф: 3 months" in text_of(card) and "Usage" not in text_of(card)
    press(emu, world, "⏸ Приостановить")
    paused = last_message(emu, world, world.owner_tg)
    assert "Приостановлен." in text_of(paused) and "сохраняют доступ" in text_of(paused)
    assert [b["text"] for b in buttons(paused)] == ["▶️ Возобновить"]
    say(emu, world, world.owner_tg, "/code NOPE-NOPE")
    assert "В этом проекте нет кода NOPE-NOPE" in text_of(last_message(emu, world, world.owner_tg))


def test_linking_a_russian_speaking_owner_sets_her_command_menu_in_russian(emu, world):
    token = "owner_" + "R" * 32
    owner = db.session.get(Owner, world.owner_id)
    owner.telegram_user_id, owner.language = None, "ru"
    owner.telegram_link_token, owner.telegram_link_issued_at = token, NOW
    db.session.commit()
    olga = e2e.new_customer(emu)

    say(emu, world, olga, f"/start {token}")
    assert "привязан" in text_of(last_message(emu, world, olga))
    [menu] = [c["params"] for c in emu.calls(world.token, "setMyCommands")
              if c["params"].get("scope") == {"type": "chat", "chat_id": olga}]
    described = {c["command"]: c["description"] for c in menu["commands"]}
    assert described["newcode"] == "Создать коды доступа"
    assert described["help"] == "Что умеет этот бот"
