"""webapp.telegram against the Bot API emulator: typed errors and what is retried."""

import pytest

from webapp import telegram, telegram_http

TOKEN = "4242:CLIENT-TEST"


@pytest.fixture
def bot(emulator):
    emulator.add_bot(TOKEN, "ClientTestBot", "Client Test")
    emulator.add_user(5001, "Ann")
    emulator.start_bot(5001, TOKEN)
    return emulator


@pytest.fixture
def waits(monkeypatch):
    """The sleeps ``call`` asks for, recorded instead of slept."""
    asked: list[float] = []
    real_call = telegram.call
    monkeypatch.setattr(
        telegram, "call", lambda action, **options: real_call(action, sleep=asked.append, **options)
    )
    return asked


def test_a_429_is_waited_out_for_its_retry_after_and_tried_again(bot, waits):
    bot.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    telegram.send_message(TOKEN, 5001, "hello")
    assert waits == [7]
    assert len(bot.sent_messages(TOKEN, 5001)) == 1


def test_server_errors_back_off_exponentially_then_succeed(bot, waits):
    bot.fail_next("sendMessage", 502, "Bad Gateway", times=3)
    telegram.send_message(TOKEN, 5001, "hello")
    assert waits == [0.5, 1.0, 2.0]
    assert len(bot.sent_messages(TOKEN, 5001)) == 1


def test_server_errors_that_never_stop_end_as_unreachable(bot, waits):
    bot.fail_next("sendMessage", 500, times=telegram.MAX_ATTEMPTS)
    with pytest.raises(telegram.Unreachable):
        telegram.send_message(TOKEN, 5001, "hello")
    assert len(waits) == telegram.MAX_ATTEMPTS - 1
    assert bot.sent_messages(TOKEN, 5001) == []


def test_a_blocked_bot_is_final_and_typed(bot, waits):
    bot.block_bot(5001, TOKEN)
    with pytest.raises(telegram.BotBlocked):
        telegram.send_message(TOKEN, 5001, "hello")
    assert waits == []


def test_a_wrong_token_is_unauthorized(bot, waits):
    with pytest.raises(telegram.Unauthorized):
        telegram.get_me("1:WRONG")
    assert waits == []


def test_an_unknown_chat_is_typed(bot, waits):
    with pytest.raises(telegram.ChatNotFound):
        telegram.get_chat(TOKEN, -100999)


def test_a_long_flood_wait_is_handed_back_inside_waiting_at_most(bot, waits):
    bot.fail_next("sendMessage", 429, "Too Many Requests: retry after 40", retry_after=40)
    with telegram.waiting_at_most(5), pytest.raises(telegram.RateLimited) as limited:
        telegram.send_message(TOKEN, 5001, "hello")
    assert limited.value.retry_after == 40 and waits == []


def test_someone_waiting_gets_two_tries_and_short_waits(bot, waits):
    bot.fail_next("getMe", 500, times=2)
    with telegram.while_someone_waits(), pytest.raises(telegram.Unreachable):
        telegram.get_me(TOKEN)
    assert waits == [0.5]
    assert telegram.get_me(TOKEN)["username"] == "ClientTestBot"


def test_an_unreachable_api_is_reported_after_the_retries(app_config, monkeypatch):
    monkeypatch.setattr(telegram, "BACKOFF_BASE", 0)
    telegram.configure("http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(telegram.Unreachable, match="did not answer"):
        telegram.get_me(TOKEN)


def test_remove_member_bans_then_lifts_the_ban_so_they_can_come_back(bot):
    bot.add_chat(-1001, "channel", "Gold Channel")
    bot.set_chat_admin(-1001, 4242)
    bot.add_member(-1001, 5001)
    telegram.remove_member(TOKEN, -1001, 5001)
    assert bot.member_status(-1001, 5001) == "left"
    methods = [c["method"] for c in bot.calls(TOKEN) if c["method"].endswith("ChatMember")]
    assert methods == ["banChatMember", "unbanChatMember"]


def test_a_proxy_error_page_is_retried_and_never_shows_the_token(app_config, monkeypatch):
    """A 502 that is not the Bot API's JSON (a load balancer's HTML page) counts as no answer."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    seen: list[str] = []

    class ProxyErrorPage(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            seen.append(self.path)
            body = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ProxyErrorPage)
    Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(telegram, "BACKOFF_BASE", 0)
    telegram.configure(f"http://127.0.0.1:{server.server_port}")
    try:
        with pytest.raises(telegram.Unreachable) as failed:
            telegram.get_me(TOKEN)
    finally:
        server.shutdown()
        telegram.configure(app_config["TELEGRAM_API_URL"])
    assert len(seen) == telegram.MAX_ATTEMPTS
    assert TOKEN not in str(failed.value) and failed.value.__cause__ is None
    assert failed.value.__suppress_context__


# ---- the HTTP session ----------------------------------------------------------------------


def _no_proxies(monkeypatch, tmp_path):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "NETRC"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc


def test_without_a_proxy_the_session_stops_reading_the_environment_per_call(
    monkeypatch, tmp_path
):
    _no_proxies(monkeypatch, tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    session = telegram_http.new_session()
    assert session.trust_env is False
    assert session.verify == "/etc/ssl/company-ca.pem"  # still honoured, read once


def test_a_proxy_in_the_environment_is_still_used(monkeypatch, tmp_path):
    _no_proxies(monkeypatch, tmp_path)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = telegram_http.new_session()
    assert session.trust_env is True
    settings = session.merge_environment_settings(
        "https://api.telegram.org/botX/getMe", {}, None, None, None
    )
    assert settings["proxies"]["https"] == "http://proxy.example:3128"


def test_a_netrc_file_keeps_the_session_reading_it(monkeypatch, tmp_path):
    _no_proxies(monkeypatch, tmp_path)
    (tmp_path / ".netrc").write_text("machine bot-api.example login a password b\n")
    assert telegram_http.new_session().trust_env is True


def _in_a_new_thread(work):
    """``work()``'s result, run in a thread of its own (the HTTP state is per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result(timeout=30)


def test_a_thread_that_only_makes_json_calls_builds_no_requests_session(
    bot, monkeypatch, tmp_path
):
    """A fleet polls 1,000 bots from 1,000 threads: a session each was memory no call used."""
    _no_proxies(monkeypatch, tmp_path)
    sessions = []
    real_new_session = telegram_http.new_session
    monkeypatch.setattr(
        telegram_http, "new_session", lambda: sessions.append(real_new_session()) or sessions[-1]
    )

    def json_calls_then_an_upload():
        telegram.send_message(TOKEN, 5001, "hello")
        telegram.send_message(TOKEN, 5001, "again")
        before_upload = len(sessions)
        telegram.send_document(TOKEN, 5001, b"code\nGOLD-1\n", "codes.csv")
        telegram.send_message(TOKEN, 5001, "after")
        return before_upload

    assert _in_a_new_thread(json_calls_then_an_upload) == 0
    assert len(sessions) == 1  # the upload's, kept for the thread's later uploads
    assert [m["text"] for m in bot.sent_messages(TOKEN, 5001) if "text" in m] == [
        "hello", "again", "after"]


def test_behind_a_proxy_json_calls_go_through_requests_and_its_proxy(
    bot, waits, monkeypatch, tmp_path
):
    _no_proxies(monkeypatch, tmp_path)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(telegram.Unreachable):
        _in_a_new_thread(lambda: telegram.get_me(TOKEN))
    assert bot.sent_messages(TOKEN, 5001) == []


def test_a_message_whose_answer_never_comes_is_uncertain_and_not_sent_twice(
    app_config, monkeypatch
):
    """The request reached the server; its answer did not: Telegram may have sent it."""
    import socket
    from threading import Thread

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    requests_seen: list[bytes] = []

    def swallow():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            data = b""
            while b"Code accepted" not in data and len(data) < 65536:
                chunk = conn.recv(65536)  # read the request, never answer
                if not chunk:
                    break
                data += chunk
            requests_seen.append(data)

    Thread(target=swallow, daemon=True).start()
    monkeypatch.setattr(telegram, "DASHBOARD_TIMEOUT", (1.0, 0.3))
    telegram.configure(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        with telegram.while_someone_waits(), pytest.raises(telegram.Uncertain):
            telegram.send_message(TOKEN, 5001, "Code accepted")
    finally:
        listener.close()
        telegram.configure(app_config["TELEGRAM_API_URL"])
    assert len(requests_seen) == 1
    head, body = requests_seen[0].split(b"\r\n\r\n", 1)
    assert b"Code accepted" in body and b"Code accepted" not in head  # JSON body, not the URL
