"""The customer's language end to end: the real bot process and real workers against the Bot API
emulator, a Russian-speaking customer from /start to the end of access, and the owner's own texts
showing in the bot."""

from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from tests import factories
from tests.bot_process import (  # noqa: F401 - fixtures
    bot_process_fixture,
    emu_fixture,
    unique_id,
    wait_handled,
    wait_polling,
)
from tests.conftest import NOW
from tests.test_jobs_end_to_end import sweep, worker_env
from webapp import clock
from webapp.domain import owner_texts
from webapp.extensions import db
from webapp.models import Customer, Subscription
from webapp.queues import QUEUE_NAME, get_redis

pytestmark = pytest.mark.slow


def _project(emu, n: int, **fields):
    """A project whose bot administers one channel, with a 3-day plan; the owner is linked."""
    bot_id, owner_tg, channel_id = 830000 + n, 930000 + n, -1004000000000 - n
    token = f"{bot_id}:LANG-{n}"
    emu.add_bot(token, username=f"Lang{n}Bot", first_name="Gold Club")
    emu.add_user(owner_tg, "Olga", "Owner", language_code="en")
    emu.add_chat(channel_id, "channel", "Gold Club Channel")
    emu.set_chat_admin(channel_id, bot_id, can_invite_users=True, can_restrict_members=True)
    owner = factories.make_owner(telegram_user_id=owner_tg, language=fields.pop("owner_language"))
    project = factories.make_project(
        owner, name="Gold Club", bot_token=token, bot_user_id=bot_id, bot_username=f"Lang{n}Bot",
        **fields,
    )
    channel = factories.make_resource(project, "Gold Club Channel", chat_id=channel_id)
    plan = factories.make_plan(project, "Три дня", "day", 3, resources=[channel])
    return token, owner_tg, channel_id, project, plan


def say(emu, token, user_id, text) -> dict:
    update = emu.send_message(token, user_id, text)
    wait_handled(emu, token, update["update_id"])
    return emu.sent_messages(token, user_id)[-1]


def press(emu, token, user_id, message, data) -> dict:
    update = emu.press_button(token, user_id, message["message_id"], data)
    wait_handled(emu, token, update["update_id"])
    return emu.sent_messages(token, user_id)[-1]


def buttons(message) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def test_a_russian_speaking_customer_gets_the_whole_journey_in_russian(
    app_ctx, emu, bot_process, migrated, redis_url
):
    n = unique_id()
    token, owner_tg, channel_id, project, plan = _project(
        emu, n, owner_language="es", timezone="Europe/Moscow"
    )
    code = factories.make_code(plan, NOW, max_activations=10).code
    ivan = 530000 + n
    emu.add_user(ivan, "Иван", "Петров", username=f"ivan{n}", language_code="ru")
    db.session.commit()
    wait_polling(emu, token)

    welcome = say(emu, token, ivan, "/start")
    assert welcome["text"].startswith("👋 Добро пожаловать в Gold Club!")
    assert "выберите тариф ниже и нажмите Код доступа" in welcome["text"]
    [plan_button] = buttons(welcome)

    chosen = press(emu, token, ivan, welcome, plan_button["callback_data"])
    assert chosen["text"] == (
        "Gold Club, Три дня (3 дня).\nНажмите Код доступа, чтобы ввести полученный код."
    )
    [code_button] = buttons(chosen)
    assert code_button["text"] == "🔑 Код доступа"

    asked = press(emu, token, ivan, chosen, code_button["callback_data"])
    assert asked["text"].startswith("Введите код доступа для Три дня")

    wrong = say(emu, token, ivan, "WXYZ-WXYZ-WXYZ")
    assert wrong["text"].startswith("К сожалению, этот код недействителен.")

    confirmation = say(emu, token, ivan, code)
    ends = NOW + timedelta(days=3)
    moscow = ends + timedelta(hours=3)
    assert confirmation["text"].startswith(
        "✅ Код принят — Gold Club, Три дня. Ваш доступ действует до "
        f"{moscow.day} "
    )
    assert f"{moscow:%H:%M} (Europe/Moscow)." in confirmation["text"]
    assert "Нажмите кнопку ниже, чтобы вступить." in confirmation["text"]
    [join] = buttons(confirmation)
    assert join["text"] == "Вступить: Gold Club Channel"
    assert emu.open_invite_link(ivan, join["url"]) == "joined"

    # The owner reads their own language, not the customer's.
    notice = emu.wait_for_message(token, owner_tg, contains="activó")
    assert notice["text"].endswith("Quedan 9 de 10 activaciones.")

    db.session.rollback()
    customer = db.session.scalars(
        select(Customer).where(Customer.project_id == project.id, Customer.telegram_user_id == ivan)
    ).one()
    assert customer.language_code == "ru"
    ends_at = db.session.scalars(
        select(Subscription.ends_at).where(Subscription.customer_id == customer.id)
    ).one()
    db.session.rollback()
    before = len(emu.sent_messages(token, ivan))

    # The lifecycle messages go out without an update from Ivan: his remembered language.
    redis = get_redis()
    queue = Queue(QUEUE_NAME, connection=redis)
    env = worker_env(migrated, redis_url, emu)
    clock.set_fake_now(redis, ends_at - timedelta(hours=23))
    sweep(queue, env)
    clock.set_fake_now(redis, ends_at + timedelta(minutes=1))
    sweep(queue, env)
    sweep(queue, env)

    reminder, end = [m["text"] for m in emu.sent_messages(token, ivan)[before:]]
    assert reminder.startswith("⏰ Ваш доступ к Gold Club, Три дня заканчивается завтра, ")
    assert "(Europe/Moscow)." in reminder
    assert reminder.endswith(
        "Чтобы сохранить доступ, попросите новый код доступа и отправьте его этому боту."
    )
    assert end == (
        "Ваш доступ к Gold Club, Три дня закончился, и вас удалили из Gold Club Channel.\n"
        "Спасибо, что были с нами!"
    )
    assert not emu.is_member(channel_id, ivan)


def test_the_owners_own_texts_show_in_the_bot_in_the_customers_language(
    app_ctx, emu, bot_process
):
    n = unique_id()
    token, _, _, project, plan = _project(emu, n, owner_language="en")
    owner_texts.save_project_texts(
        db.session, project.id, "ru",
        {
            "welcome": "Привет, {name}! Это <b>{project}</b>, выбирайте тариф.",
            "confirmation": "🎉 {name}, доступ к <i>{plan}</i> открыт до {ends}.",
            "contact": "@GoldSupport",
        },
        NOW,
    )
    code = factories.make_code(plan, NOW, max_activations=1).code
    ivan, ann, olga = 540000 + n, 550000 + n, 560000 + n
    emu.add_user(ivan, "Иван", language_code="ru")
    emu.add_user(ann, "Ann", language_code="en")
    emu.add_user(olga, "Ольга", language_code="ru")
    db.session.commit()
    wait_polling(emu, token)

    assert say(emu, token, ivan, "/start")["text"] == (
        "Привет, Иван! Это Gold Club, выбирайте тариф."
    )
    # The override is for Russian only: an English speaker reads the bot's own welcome.
    assert say(emu, token, ann, "/start")["text"].startswith("👋 Welcome to Gold Club!")

    confirmation = say(emu, token, ivan, f"/start {code}")
    assert confirmation["text"].startswith("🎉 Иван, доступ к Gold Club, Три дня открыт до ")
    assert "(UTC)." in confirmation["text"]
    entities = confirmation.get("entities") or []
    assert any(e["type"] == "italic" for e in entities)
    assert [b["text"] for b in buttons(confirmation)] == ["Вступить: Gold Club Channel"]

    used_up = say(emu, token, olga, f"/start {code}")
    assert used_up["text"] == (
        "Этот код уже использован максимальное число раз. Если вы оплатили доступ, "
        "свяжитесь с владельцем: @GoldSupport"
    )
