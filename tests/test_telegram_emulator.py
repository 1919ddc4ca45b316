"""The fake Bot API server, driven by the real pyTelegramBotAPI client and by plain requests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import telebot
from telebot import apihelper, types
from telebot.apihelper import ApiTelegramException

from webapp.telegram_emulator import BotApiEmulator

TOKEN = "123456:GOLD-token"
OTHER_TOKEN = "654321:SILVER-token"
CHANNEL = -1001001
ANN, BOB, CAT, OWNER = 5001, 5002, 5003, 5999
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def emu():
    emulator = BotApiEmulator().start()
    emulator.add_bot(token=TOKEN, username="GoldClubBot", first_name="Gold Club")
    emulator.add_user(ANN, first_name="Ann", last_name="Lee", username="ann")
    emulator.add_user(BOB, first_name="Bob")
    emulator.add_user(CAT, first_name="Cat")
    emulator.add_user(OWNER, first_name="Owner")
    for user_id in (ANN, BOB, CAT, OWNER):
        emulator.start_bot(user_id, TOKEN)  # as if each had pressed START long ago
    yield emulator
    emulator.stop()
    assert [v for v in emulator.spec_violations() if v["method"] != "noSuchMethod"] == []


@pytest.fixture
def bot(emu):
    """A real TeleBot pointed at the emulator (module globals restored afterwards)."""
    saved = apihelper.API_URL, apihelper.FILE_URL
    apihelper.API_URL = emu.url + "/bot{0}/{1}"
    apihelper.FILE_URL = emu.url + "/file/bot{0}/{1}"
    yield telebot.TeleBot(TOKEN, threaded=False)
    apihelper.API_URL, apihelper.FILE_URL = saved


@pytest.fixture
def channel(emu):
    emu.add_chat(CHANNEL, type="channel", title="Gold Club Channel")
    emu.set_chat_admin(CHANNEL, OWNER, status="creator")
    emu.set_chat_admin(CHANNEL, 123456, can_invite_users=True, can_restrict_members=True)
    return CHANNEL


def api(emu, method, token=TOKEN, **params):
    return requests.post(f"{emu.url}/bot{token}/{method}", params=params, timeout=10)


# ---------------------------------------------------------------------------- basics
def test_get_me_with_real_client(bot):
    me = bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "GoldClubBot"
    assert me.can_join_groups is True


def test_bad_token_and_unknown_method(emu, bot):
    with pytest.raises(ApiTelegramException) as exc:
        telebot.TeleBot("999:WRONG").get_me()
    assert exc.value.error_code == 401
    assert exc.value.result_json["description"] == "Unauthorized"
    resp = api(emu, "noSuchMethod")
    assert resp.status_code == 404 and resp.json() == {
        "ok": False, "error_code": 404, "description": "Not Found"}
    assert emu.calls(method="getMe")[-1]["status"] == 401


def test_parameters_accepted_as_query_form_json_and_multipart(emu):
    url = f"{emu.url}/bot{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    answers = [
        requests.post(url, params={"chat_id": ANN, "text": "q"}),
        requests.post(url, data={"chat_id": ANN, "text": "form",
                                 "reply_markup": json.dumps(markup)}),
        requests.post(url, json={"chat_id": ANN, "text": "json", "reply_markup": markup}),
        requests.post(url, files={"chat_id": (None, str(ANN)), "text": (None, "multi")}),
        requests.get(url, params={"chat_id": ANN, "text": "get"}),
    ]
    assert [r.json()["result"]["text"] for r in answers] == ["q", "form", "json", "multi", "get"]
    ids = [r.json()["result"]["message_id"] for r in answers]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert emu.calls(method="sendMessage")[1]["params"]["reply_markup"] == markup
    msg = answers[2].json()["result"]
    assert msg["from"]["id"] == 123456 and msg["chat"] == {
        "id": ANN, "type": "private", "first_name": "Ann", "last_name": "Lee",
        "username": "ann"}
    assert isinstance(msg["date"], int)


def test_errors_look_like_telegram(emu, channel):
    assert api(emu, "sendMessage", chat_id=-4242, text="x").json() == {
        "ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    emu.add_chat(-1002, type="supergroup", title="Other")
    resp = api(emu, "createChatInviteLink", chat_id=-1002)
    assert resp.status_code == 403
    emu.add_member(-1002, 123456)
    resp = api(emu, "createChatInviteLink", chat_id=-1002).json()
    assert resp["description"].startswith("Bad Request: not enough rights")
    resp = api(emu, "createChatInviteLink", chat_id=channel, name="x" * 33).json()
    assert resp["error_code"] == 400
    assert api(emu, "createChatInviteLink", chat_id=channel,
               member_limit=100000).json()["error_code"] == 400
    resp = api(emu, "createChatInviteLink", chat_id=channel, member_limit=5,
               creates_join_request=True).json()
    assert resp["error_code"] == 400 and "member limit" in resp["description"]
    assert api(emu, "sendMessage", chat_id=ANN, text="a.b",
               parse_mode="MarkdownV2").json()["description"].startswith(
        "Bad Request: can't parse entities: Character '.' is reserved")
    assert "Unsupported start tag \"br\"" in api(
        emu, "sendMessage", chat_id=ANN, text="a<br>b", parse_mode="HTML").json()["description"]
    ok = api(emu, "sendMessage", chat_id=ANN, text="<b>Code:</b> A&amp;B",
             parse_mode="HTML").json()["result"]
    assert ok["text"] == "Code: A&B"
    assert ok["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    long_data = {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}
    assert api(emu, "sendMessage", chat_id=ANN, text="t", reply_markup=json.dumps(
        long_data)).json()["description"] == "Bad Request: BUTTON_DATA_INVALID"


# ---------------------------------------------------------------------------- updates
def test_polling_picks_up_message_and_reply_is_recorded(emu, bot):
    @bot.message_handler(commands=["start"])
    def start(message):
        payload = telebot.util.extract_arguments(message.text)
        bot.reply_to(message, f"Hello {message.from_user.first_name}, payload={payload}")

    thread = threading.Thread(target=bot.polling, kwargs={
        "non_stop": True, "interval": 0, "timeout": 5, "long_polling_timeout": 5})
    thread.start()
    try:
        update = emu.send_message(TOKEN, ANN, "/start gold_42")
        assert update["message"]["entities"] == [
            {"type": "bot_command", "offset": 0, "length": 6}]
        reply = emu.wait_for_message(TOKEN, ANN, contains="Hello Ann", timeout=5)
        assert reply["text"] == "Hello Ann, payload=gold_42"
        assert reply["reply_to_message"]["message_id"] == update["message"]["message_id"]
        assert reply["message_id"] == update["message"]["message_id"] + 1
    finally:
        bot.stop_polling()
        emu.stop()  # wakes the pending long poll
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_long_polling_returns_promptly_when_an_update_arrives(emu, bot):
    result = {}

    def poll():
        started = time.monotonic()
        result["updates"] = bot.get_updates(timeout=8, long_polling_timeout=8)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=poll)
    thread.start()
    emu.wait_for(lambda e: any(c["status"] is None for c in e.calls(method="getUpdates")))
    emu.send_message(TOKEN, BOB, "hi")
    thread.join(timeout=5)
    assert not thread.is_alive()
    # It returned for the update, not at its 8 s timeout.
    assert result["elapsed"] < 6
    assert [u.message.text for u in result["updates"]] == ["hi"]
    # the offset confirms; an empty short poll returns at once
    api(emu, "getUpdates", offset=result["updates"][-1].update_id + 1, timeout=0)
    assert emu.pending_updates(TOKEN) == []


def test_second_poller_gets_409_conflict(emu, bot):
    holder = {}

    def first():
        holder["resp"] = api(emu, "getUpdates", timeout=5)

    thread = threading.Thread(target=first)
    thread.start()
    emu.wait_for(lambda e: e.calls(method="getUpdates"))
    assert api(emu, "getUpdates", timeout=0).json()["ok"] is True
    thread.join(timeout=5)
    assert holder["resp"].status_code == 409
    assert holder["resp"].json()["description"].startswith("Conflict: terminated by other")


def test_callback_query_answer_and_edit(emu, bot):
    markup = types.InlineKeyboardMarkup()
    markup.add(types.InlineKeyboardButton("Buy", callback_data="buy:7"))
    sent = bot.send_message(ANN, "Pick one", reply_markup=markup)
    with pytest.raises(ValueError):
        emu.press_button(TOKEN, ANN, sent.message_id, "nope")
    update = emu.press_button(TOKEN, ANN, sent.message_id, "buy:7")
    assert update["callback_query"]["message"]["message_id"] == sent.message_id
    [upd] = bot.get_updates(timeout=0, long_polling_timeout=0)
    query = upd.callback_query
    assert query.data == "buy:7" and query.from_user.id == ANN and query.chat_instance
    assert bot.answer_callback_query(query.id, "Done") is True
    with pytest.raises(ApiTelegramException):
        bot.answer_callback_query(query.id, "twice")
    edited = bot.edit_message_text("Bought", ANN, sent.message_id)
    assert edited.text == "Bought" and edited.reply_markup is None
    assert emu.callback_answers()[query.id]["answer"]["text"] == "Done"
    with pytest.raises(ApiTelegramException) as exc:
        bot.edit_message_text("Bought", ANN, sent.message_id)
    assert "message is not modified" in exc.value.description
    methods = [m["_method"] for m in emu.sent_messages(TOKEN, ANN)]
    assert methods == ["sendMessage", "editMessageText"]


# ---------------------------------------------------------------------------- invite links
def test_member_limit_one_admits_one_user(emu, bot, channel):
    link = bot.create_chat_invite_link(channel, name="ann-only", member_limit=1)
    assert link.invite_link.startswith("https://t.me/+") and link.member_limit == 1
    assert link.creator.id == 123456 and not link.is_primary and not link.is_revoked
    assert emu.open_invite_link(ANN, link.invite_link) == "joined"
    assert emu.open_invite_link(BOB, link.invite_link) == "refused:limit_reached"
    assert emu.is_member(channel, ANN) and not emu.is_member(channel, BOB)
    assert bot.get_chat_member(channel, ANN).status == "member"
    # member_limit counts members who are in the chat right now
    emu.user_leaves(channel, ANN)
    assert emu.open_invite_link(BOB, link.invite_link) == "joined"
    revoked = bot.revoke_chat_invite_link(channel, link.invite_link)
    assert revoked.is_revoked
    assert emu.open_invite_link(CAT, link.invite_link) == "refused:revoked"


def test_expired_link_refused(emu, bot, channel):
    link = bot.create_chat_invite_link(channel, expire_date=emu.now() + 60)
    assert emu.open_invite_link(ANN, link.invite_link) == "joined"
    emu.advance_clock(120)
    assert emu.open_invite_link(BOB, link.invite_link) == "refused:expired"


def test_join_request_link_then_approve(emu, bot, channel):
    # (the client turns long_polling_timeout=0 into 10 s, so short polls go through requests)
    api(emu, "getUpdates", timeout=0,
        allowed_updates=json.dumps(["message", "chat_join_request", "chat_member"]))
    link = bot.create_chat_invite_link(channel, creates_join_request=True)
    assert link.creates_join_request and link.pending_join_request_count == 0
    assert emu.open_invite_link(ANN, link.invite_link) == "requested"
    assert emu.member_status(channel, ANN) == "left"
    [upd] = bot.get_updates(timeout=0, long_polling_timeout=0)
    request = upd.chat_join_request
    assert request.from_user.id == ANN and request.user_chat_id == ANN
    assert request.invite_link.invite_link == link.invite_link
    assert bot.approve_chat_join_request(channel, ANN) is True
    assert emu.member_status(channel, ANN) == "member"
    updates = bot.get_updates(offset=upd.update_id + 1, timeout=0, long_polling_timeout=0)
    [member_update] = [u.chat_member for u in updates if u.chat_member]
    assert member_update.new_chat_member.status == "member"
    assert member_update.old_chat_member.status == "left"
    with pytest.raises(ApiTelegramException):
        bot.approve_chat_join_request(channel, ANN)


def test_chat_member_updates_need_allowed_updates(emu, bot, channel):
    link = bot.create_chat_invite_link(channel)
    emu.open_invite_link(ANN, link.invite_link)
    assert emu.pending_updates(TOKEN) == []  # default allowed_updates exclude chat_member
    api(emu, "getUpdates", timeout=0, allowed_updates='["chat_member"]')
    emu.open_invite_link(BOB, link.invite_link)
    [upd] = emu.pending_updates(TOKEN)
    assert upd["chat_member"]["new_chat_member"]["user"]["id"] == BOB
    assert upd["chat_member"]["invite_link"]["invite_link"] == link.invite_link


def test_ban_then_unban_only_if_banned_lets_them_back(emu, bot, channel):
    link = bot.create_chat_invite_link(channel)
    assert emu.open_invite_link(ANN, link.invite_link) == "joined"
    assert bot.ban_chat_member(channel, ANN) is True
    assert emu.member_status(channel, ANN) == "kicked"
    assert emu.open_invite_link(ANN, link.invite_link) == "refused:banned"
    assert bot.unban_chat_member(channel, ANN, only_if_banned=True) is True
    assert emu.member_status(channel, ANN) == "left"
    assert emu.open_invite_link(ANN, link.invite_link) == "joined"
    # only_if_banned on a member is a no-op; a plain unban removes a member
    bot.unban_chat_member(channel, ANN, only_if_banned=True)
    assert emu.is_member(channel, ANN)
    bot.unban_chat_member(channel, ANN)
    assert emu.member_status(channel, ANN) == "left"
    with pytest.raises(ApiTelegramException) as exc:
        bot.ban_chat_member(channel, OWNER)
    assert exc.value.description == "Bad Request: can't remove chat owner"


def test_bot_added_as_admin_and_rights(emu, bot):
    emu.add_chat(-1005, type="supergroup", title="Club Chat")
    update = emu.bot_added_as_admin(TOKEN, -1005, OWNER, can_invite_users=False)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "administrator"
    with pytest.raises(ApiTelegramException) as exc:
        bot.create_chat_invite_link(-1005)
    assert exc.value.description.startswith("Bad Request: not enough rights")
    admins = bot.get_chat_administrators(-1005)
    assert [a.user.id for a in admins] == [123456]
    emu.bot_removed(TOKEN, -1005, OWNER)
    with pytest.raises(ApiTelegramException) as exc:
        bot.send_message(-1005, "hi")
    assert exc.value.error_code == 403


# ---------------------------------------------------------------------------- faults & limits
def test_injected_429_carries_retry_after(emu, bot):
    emu.fail_next("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(ApiTelegramException) as exc:
        bot.send_message(ANN, "hello")
    assert exc.value.error_code == 429
    assert exc.value.result_json["parameters"]["retry_after"] == 7
    assert exc.value.description == "Too Many Requests: retry after 7"
    assert bot.send_message(ANN, "hello").text == "hello"
    assert [c["status"] for c in emu.calls(TOKEN, "sendMessage")] == [429, 200]


def test_blocked_user_gives_403(emu, bot):
    emu.block_bot(ANN, TOKEN)
    with pytest.raises(ApiTelegramException) as exc:
        bot.send_message(ANN, "hello")
    assert exc.value.error_code == 403
    assert exc.value.description == "Forbidden: bot was blocked by the user"


class StandingClock:
    """The rate windows' clock, moved only by the test."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limit_30_per_second_per_bot(emu):
    emu.rate_clock = clock = StandingClock()
    emu.set_rate_limit(per_bot_per_second=30, per_chat_per_second=None)
    for uid in range(7000, 7041):
        emu.add_user(uid)
        emu.start_bot(uid, TOKEN)
    session = requests.Session()

    def send(uid):
        return session.post(f"{emu.url}/bot{TOKEN}/sendMessage",
                            params={"chat_id": uid, "text": "x"})

    answers = [send(uid) for uid in range(7000, 7040)]
    assert [a.status_code for a in answers] == [200] * 30 + [429] * 10
    refused = answers[30].json()
    assert refused["description"] == "Too Many Requests: retry after 1"
    assert refused["parameters"]["retry_after"] == 1
    assert emu.stats()["rate_limited"] == 10
    clock.now += 0.5
    assert send(7040).status_code == 429  # the first 30 are still within the last second
    clock.now += 0.5
    assert send(7040).status_code == 200


def test_rate_limit_per_chat(emu, bot):
    emu.rate_clock = clock = StandingClock()
    emu.set_rate_limit(per_bot_per_second=30, per_chat_per_second=1)
    bot.send_message(ANN, "one")
    with pytest.raises(ApiTelegramException) as exc:
        bot.send_message(ANN, "two")
    assert exc.value.error_code == 429
    assert bot.send_message(BOB, "other chat").text == "other chat"
    clock.now += 1.0
    assert bot.send_message(ANN, "two").text == "two"


def test_delay_and_disconnect(emu):
    emu.set_delay("getMe", 0.3)
    started = time.monotonic()
    assert api(emu, "getMe").json()["ok"]
    assert time.monotonic() - started >= 0.3
    emu.fail_next("getMe", disconnect=True)
    with pytest.raises(requests.ConnectionError):
        api(emu, "getMe")


# ---------------------------------------------------------------------------- files
def test_send_document_keeps_bytes_and_name(emu, bot):
    data = b"code\nGOLD-1\nGOLD-2\n"
    msg = bot.send_document(ANN, io.BytesIO(data), visible_file_name="codes.csv",
                            caption="Your codes")
    assert msg.document.file_name == "codes.csv" and msg.caption == "Your codes"
    [sent] = emu.sent_messages(TOKEN, ANN)
    assert sent["_file_bytes"] == data and sent["document"]["_file_bytes"] == data
    assert sent["document"]["mime_type"] == "text/csv"
    call = emu.calls(TOKEN, "sendDocument")[0]
    assert call["files"]["document"] == data and call["file_names"]["document"] == "codes.csv"
    info = bot.get_file(msg.document.file_id)
    assert bot.download_file(info.file_path) == data


def test_user_document_and_photo_updates(emu, bot):
    emu.send_document(TOKEN, ANN, b"abc", file_name="a.txt", caption="doc")
    emu.send_photo(TOKEN, ANN, b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    doc_upd, photo_upd = bot.get_updates(timeout=0, long_polling_timeout=0)
    assert doc_upd.message.document.file_name == "a.txt"
    assert bot.download_file(bot.get_file(doc_upd.message.document.file_id).file_path) == b"abc"
    assert photo_upd.message.content_type == "photo"


# ---------------------------------------------------------------------------- HTTP control
def test_http_control_interface(emu):
    def ctl(action, **body):
        resp = requests.post(f"{emu.url}/_emulator/{action}", json=body, timeout=5)
        assert resp.status_code == 200, resp.text
        return resp.json()["result"]

    ctl("reset")
    assert ctl("add_bot", token=OTHER_TOKEN, username="SilverBot")["id"] == 654321
    ctl("add_user", user_id=42, first_name="Zed")
    ctl("add_chat", chat_id=-77, type="channel", title="Silver")
    ctl("set_chat_admin", chat_id=-77, user_id=654321)
    link = api(emu, "createChatInviteLink", token=OTHER_TOKEN, chat_id=-77).json()["result"]
    assert ctl("open_invite_link", user_id=42, invite_link=link["invite_link"]) == "joined"
    assert ctl("member_status", chat_id=-77, user_id=42) == "member"
    ctl("send_message", token=OTHER_TOKEN, user_id=42, text="/start")
    ctl("fail_next", method="getUpdates", error_code=502, description="Bad Gateway")
    assert api(emu, "getUpdates", token=OTHER_TOKEN).status_code == 502
    assert api(emu, "getUpdates", token=OTHER_TOKEN).json()["result"][0]["message"]["text"] \
        == "/start"
    ctl("set_rate_limit", per_bot_per_second=None, per_chat_per_second=None)
    requests.post(f"{emu.url}/bot{OTHER_TOKEN}/sendDocument", data={"chat_id": 42},
                  files={"document": ("a.bin", b"\x00\x01")})
    [sent] = ctl("sent_messages", token=OTHER_TOKEN)
    assert sent["_file_bytes"] == "AAE="  # base64 over HTTP
    assert ctl("stats")["calls"] >= 4
    assert [c["method"] for c in ctl("calls", method="sendDocument")] == ["sendDocument"]
    resp = requests.post(f"{emu.url}/_emulator/member_status", json={"chat_id": 1, "user_id": 1})
    assert resp.status_code == 400 and resp.json()["ok"] is False


def test_wait_for_timeout_is_helpful(emu):
    with pytest.raises(TimeoutError) as exc:
        emu.wait_for_message(TOKEN, ANN, contains="never", timeout=0.2)
    assert "containing 'never'" in str(exc.value)


def test_standalone_module_runs(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp.telegram_emulator", "--port", "0", "--bot", TOKEN],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/bot{TOKEN}/getMe", timeout=5).json()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()


# ---------------------------------------------------------------------------- shapes
def test_every_update_kind_parses_with_telebot_types(emu, bot, channel):
    api(emu, "getUpdates", timeout=0, allowed_updates=json.dumps(
        ["message", "edited_message", "callback_query", "my_chat_member", "chat_member",
         "chat_join_request"]))
    emu.add_chat(-1009, type="supergroup", title="Group")
    emu.set_chat_admin(-1009, OWNER, status="creator")
    emu.bot_added_as_admin(TOKEN, -1009, OWNER)
    first = emu.send_message(TOKEN, ANN, "hello")
    emu.edit_message(TOKEN, ANN, first["message"]["message_id"], "hello again")
    markup = types.InlineKeyboardMarkup()
    markup.add(types.InlineKeyboardButton("Go", callback_data="go"))
    sent = bot.send_message(ANN, "press", reply_markup=markup)
    emu.press_button(TOKEN, ANN, sent.message_id, "go")
    link = bot.create_chat_invite_link(-1009)
    emu.open_invite_link(BOB, link.invite_link)  # chat_member + new_chat_members message
    emu.user_leaves(-1009, BOB)
    request_link = bot.create_chat_invite_link(channel, creates_join_request=True)
    emu.open_invite_link(CAT, request_link.invite_link)
    emu.block_bot(ANN, TOKEN)
    emu.bot_demoted(TOKEN, -1009, OWNER)
    emu.bot_removed(TOKEN, -1009, OWNER)
    raw = emu.pending_updates(TOKEN)
    kinds = [next(k for k in u if k != "update_id") for u in raw]
    assert set(kinds) == {"message", "edited_message", "callback_query", "my_chat_member",
                          "chat_member", "chat_join_request"}
    parsed = [types.Update.de_json(json.dumps(u)) for u in raw]
    ids = [u.update_id for u in parsed]
    assert ids == sorted(set(ids))
    joined = [u.message for u in parsed if u.message and u.message.new_chat_members]
    assert joined[0].new_chat_members[0].id == BOB
    removed = [u.my_chat_member for u in parsed if u.my_chat_member][-1]
    assert removed.new_chat_member.status == "kicked"


def test_chat_and_member_shapes_parse(emu, bot, channel):
    emu.add_chat(-1010, type="supergroup", title="Public", username="goldpublic")
    chat = bot.get_chat("@goldpublic")  # public: visible without being a member
    assert chat.id == -1010 and chat.type == "supergroup"
    with pytest.raises(ApiTelegramException) as exc:
        bot.get_chat(-1010 - 1)
    assert exc.value.description == "Bad Request: chat not found"
    full = bot.get_chat(channel)
    assert full.title == "Gold Club Channel" and full.type == "channel"
    me = bot.get_chat_member(channel, 123456)
    assert me.status == "administrator" and me.can_invite_users and me.can_restrict_members
    assert bot.get_chat_member(channel, OWNER).status == "creator"
    assert bot.get_chat_member(channel, ANN).status == "left"
    assert bot.get_chat_member_count(channel) == 2
    primary = bot.export_chat_invite_link(channel)
    assert bot.get_chat(channel).invite_link == primary
    assert emu.open_invite_link(ANN, primary) == "joined"


def test_commands_markup_edit_and_delete(emu, bot):
    bot.set_my_commands([types.BotCommand("start", "Start"), types.BotCommand("help", "Help")])
    assert [c.command for c in bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(ApiTelegramException):
        bot.set_my_commands([types.BotCommand("Bad-Command", "x")])
    markup = types.InlineKeyboardMarkup()
    markup.add(types.InlineKeyboardButton("Site", url="https://example.com"))
    msg = bot.send_message(ANN, "*Gold* \\- club", parse_mode="MarkdownV2",
                           reply_markup=markup)
    assert msg.text == "Gold - club" and msg.entities[0].type == "bold"
    edited = bot.edit_message_reply_markup(ANN, msg.message_id, reply_markup=None)
    assert edited.reply_markup is None
    assert bot.delete_message(ANN, msg.message_id) is True
    with pytest.raises(ApiTelegramException) as exc:
        bot.delete_message(ANN, msg.message_id)
    assert exc.value.description == "Bad Request: message to delete not found"


def test_reset_keeps_update_ids_growing(emu):
    first = emu.send_message(TOKEN, ANN, "a")["update_id"]
    emu.reset()
    emu.add_bot(token=TOKEN, username="GoldClubBot")
    assert emu.send_message(TOKEN, ANN, "b")["update_id"] > first
    assert emu.calls() == [] and emu.stats()["calls"] == 0


# ---------------------------------------------------------------------------- as strict as Telegram
def test_a_call_the_specification_does_not_allow_is_refused_and_recorded(emu):
    resp = requests.post(f"{emu.url}/bot{TOKEN}/sendMessage", timeout=10,
                         json={"chat_id": ANN, "text": "hi", "disable_web_page_preview": True})
    assert resp.status_code == 400
    assert "unknown parameter 'disable_web_page_preview'" in resp.json()["description"]
    resp = requests.post(f"{emu.url}/bot{TOKEN}/createChatInviteLink", timeout=10,
                         json={"chat_id": CHANNEL, "member_limit": "one"})
    assert resp.status_code == 400 and "is not an Integer" in resp.json()["description"]
    resp = requests.post(f"{emu.url}/bot{TOKEN}/setMyCommands", timeout=10, json={
        "commands": [{"command": "start", "description": "Go"}],
        "scope": {"type": "chat"}})  # BotCommandScopeChat needs its chat_id
    assert resp.status_code == 400
    assert [v["method"] for v in emu.spec_violations()] == [
        "sendMessage", "createChatInviteLink", "setMyCommands"]
    emu._violations.clear()  # seen: the fixture would fail the test on them


def test_a_bot_may_write_only_to_users_who_started_it(emu, bot):
    emu.add_user(7777, first_name="Stranger")
    with pytest.raises(ApiTelegramException) as exc:
        bot.send_message(7777, "hello")
    assert exc.value.error_code == 403
    assert exc.value.description == "Forbidden: bot can't initiate conversation with a user"
    emu.send_message(TOKEN, 7777, "/start")
    assert bot.send_message(7777, "hello").text == "hello"


def test_a_join_requester_may_be_written_to_only_until_the_request_is_decided(emu, bot, channel):
    emu.add_user(7778, first_name="Requester")
    link = bot.create_chat_invite_link(CHANNEL, creates_join_request=True).invite_link
    assert emu.open_invite_link(7778, link) == "requested"
    assert bot.send_message(7778, "We are looking at your request").text
    bot.decline_chat_join_request(CHANNEL, 7778)
    with pytest.raises(ApiTelegramException) as exc:
        bot.send_message(7778, "declined")
    assert exc.value.error_code == 403


def test_basic_groups_refuse_unban_and_upgrade_to_a_supergroup_with_a_new_id(emu, bot):
    emu.add_chat(-4001, "group", title="Basic")
    emu.set_chat_admin(-4001, 123456)
    emu.add_member(-4001, ANN)
    bot.ban_chat_member(-4001, ANN)
    with pytest.raises(ApiTelegramException) as exc:
        bot.unban_chat_member(-4001, ANN, only_if_banned=True)
    assert exc.value.description == (
        "Bad Request: method is available for supergroup and channel chats only")
    emu.upgrade_to_supergroup(-4001, -1004001, by_user_id=OWNER)
    with pytest.raises(ApiTelegramException) as exc:
        bot.get_chat(-4001)
    assert exc.value.result_json["parameters"] == {"migrate_to_chat_id": -1004001}
    assert bot.get_chat(-1004001).type == "supergroup"
    assert emu.chat_members(-1004001)[123456] == "administrator"


def test_getupdates_answers_409_while_a_webhook_is_set(emu, bot):
    emu.set_webhook(TOKEN, "https://other-platform.example/hook")
    with pytest.raises(ApiTelegramException) as exc:
        bot.get_updates(timeout=1, long_polling_timeout=1)
    assert exc.value.error_code == 409 and "webhook is active" in exc.value.description
    bot.delete_webhook()
    assert bot.get_updates(timeout=1, long_polling_timeout=1) == []


def test_updates_older_than_a_day_are_gone(emu, bot):
    emu.send_message(TOKEN, ANN, "hello")
    emu.advance_clock(24 * 3600 + 1)
    assert emu.pending_updates(TOKEN) == []
    assert bot.get_updates(timeout=1, long_polling_timeout=1) == []


def test_gateway_errors_are_html_pages_and_long_urls_get_414(emu):
    emu.fail_next("getMe", 502)
    resp = requests.post(f"{emu.url}/bot{TOKEN}/getMe", timeout=10)
    assert resp.status_code == 502 and resp.headers["Content-Type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in resp.text
    resp = requests.post(f"{emu.url}/bot{TOKEN}/sendMessage", timeout=10,
                         params={"chat_id": ANN, "text": "я" * 3000})
    assert resp.status_code == 414
