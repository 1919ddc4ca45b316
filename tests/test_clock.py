"""One clock for the whole world under test: the product's clock and the emulator's.

Tests pass on any date only if nothing they drive reads the wall clock behind their back; these
pin down the clock's own rules (``.ci/run`` proves the rest by running the suite on other dates).
"""

from datetime import timedelta

import requests

from tests.conftest import NOW
from webapp import clock
from webapp.models import utcnow
from webapp.queues import get_redis
from webapp.telegram_emulator import BotApiEmulator


def test_under_test_every_reading_is_the_tests_now_until_a_test_moves_it(app_ctx):
    assert clock.now() == NOW
    assert utcnow() == NOW  # rows' timestamps follow the same clock
    clock.set_fake_now(get_redis(), NOW + timedelta(days=40))
    assert clock.now() == NOW + timedelta(days=40)


def test_a_ticking_clock_runs_on_at_the_real_pace_from_where_it_was_set(app_ctx, monkeypatch):
    real = 2_000_000_000.0
    monkeypatch.setattr(clock.time, "time", lambda: real)
    clock.set_fake_now(get_redis(), NOW, ticking=True)
    assert clock.now() == NOW
    monkeypatch.setattr(clock.time, "time", lambda: real + 90)
    assert clock.now() == NOW + timedelta(seconds=90)


def test_outside_an_application_there_is_no_fake_clock_to_read(app):
    # ``app`` set the fake clock in Redis; without an app context nothing can read it.
    assert abs(clock.now() - clock.wall_now()) < timedelta(seconds=5)


def test_the_emulator_judges_link_expiry_by_the_clock_it_was_given():
    emu = BotApiEmulator(clock_start=NOW.timestamp()).start()
    try:
        assert abs(emu.now() - NOW.timestamp()) < 5
        token, channel = "4242:CLOCK", -1004242
        emu.add_bot(token=token, username="ClockBot", first_name="Clock")
        emu.add_user(5001, first_name="Ann")
        emu.add_user(5002, first_name="Bob")
        emu.add_chat(channel, "channel", title="Clock Channel")
        emu.set_chat_admin(channel, 4242, can_invite_users=True)
        made = requests.post(
            f"{emu.url}/bot{token}/createChatInviteLink",
            json={"chat_id": channel, "expire_date": int((NOW + timedelta(hours=1)).timestamp())},
            timeout=10,
        ).json()
        link = made["result"]["invite_link"]
        assert emu.open_invite_link(5001, link) == "joined"
        emu.set_clock((NOW + timedelta(hours=2)).timestamp())
        assert emu.open_invite_link(5002, link) == "refused:expired"
    finally:
        emu.stop()
