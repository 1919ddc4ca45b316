"""Bot tokens never reach a log: not from urllib3's request lines, not from a failed SQL
statement, not from a traceback, not at LOG_LEVEL=DEBUG."""

import io
import logging

import pytest
from sqlalchemy.exc import IntegrityError

from tests import factories
from tests.bot_process import (  # noqa: F401 - fixtures
    BotProcess,
    bot_env,
    emu_fixture,
    unique_id,
    wait_handled,
    wait_polling,
)
from tests.conftest import NOW
from webapp.extensions import db
from webapp.models import Project

SHAPED = "7000123:AAEhBP0av28LuLVeCMO3KNBSpe7n5YjNS9A"


@pytest.fixture
def captured():
    """A handler added after start-up, as RQ and gunicorn add theirs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_urllib3_request_lines_are_quiet_even_at_debug(app, captured):
    logging.getLogger("urllib3.connectionpool").debug(
        'http://127.0.0.1:8081 "POST /bot%s/getUpdates?offset=1 HTTP/1.1" 200 23', SHAPED
    )
    assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.WARNING
    assert SHAPED not in captured.getvalue()


def test_a_token_of_any_shape_the_app_has_read_is_redacted_from_any_logger(app, captured):
    odd = "42:short"
    with app.app_context():
        factories.make_project(bot_token=odd, bot_user_id=42)
        db.session.commit()
        db.session.scalars(db.select(Project.bot_token)).all()
    log = logging.getLogger("somewhere.else")
    log.warning("calling https://api.telegram.org/bot%s/sendMessage", odd)
    log.error("token %s and %s", SHAPED, "in text")
    out = captured.getvalue()
    assert odd not in out and SHAPED not in out
    assert out.count("<token>") == 2


def test_a_traceback_carrying_a_token_is_logged_redacted(app, captured):
    try:
        raise RuntimeError(f"requests failed for /bot{SHAPED}/getMe")
    except RuntimeError:
        logging.getLogger("bot").exception("project 1: polling failed")
    out = captured.getvalue()
    assert "Traceback" in out and "RuntimeError" in out
    assert SHAPED not in out


def test_a_failed_sql_statement_shows_no_parameters(app, captured):
    with app.app_context():
        owner = factories.make_owner()
        factories.make_project(owner, bot_token=SHAPED, bot_user_id=7000123)
        db.session.commit()
        # The same token again: the unique digest refuses the INSERT.
        db.session.add(
            Project(
                owner_id=owner.id,
                name="Again",
                bot_token=SHAPED,
                bot_user_id=7000123,
                bot_username="GoldClubBot",
                created_at=NOW,
            )
        )
        with pytest.raises(IntegrityError) as failure:
            db.session.flush()
        db.session.rollback()
        logging.getLogger("webapp").error("could not save", exc_info=failure.value)
    message = str(failure.value)
    assert "SQL parameters hidden" in message
    assert "gAAAAA" not in message  # not even the ciphertext
    assert SHAPED not in captured.getvalue()


@pytest.mark.slow
def test_an_end_to_end_run_at_debug_level_logs_no_token(app_ctx, emu, migrated, redis_url):
    n = unique_id()
    shaped = f"{810000 + n}:AA{'x7Q_' * 8}{n % 10}"
    odd = f"{820000 + n}:T-{n}"
    customer = 530000 + n
    emu.add_user(customer, "Ann", "Lee")
    codes = []
    for token, bot_id in ((shaped, 810000 + n), (odd, 820000 + n)):
        emu.add_bot(token, username=f"Bot{bot_id}", first_name="Gold Club")
        project = factories.make_project(
            bot_token=token, bot_user_id=bot_id, bot_username=f"Bot{bot_id}"
        )
        plan = factories.make_plan(project, name="Month")
        codes.append((token, factories.make_code(plan, NOW).code))
    db.session.commit()
    env = bot_env(migrated, redis_url, emu.url)
    env["LOG_LEVEL"] = "DEBUG"
    process = BotProcess(env).start()
    try:
        for token, code in codes:
            wait_polling(emu, token)
            update = emu.send_message(token, customer, f"/start {code}")
            wait_handled(emu, token, update["update_id"])
            update = emu.send_message(token, customer, "NOT-A-REAL-CODE")
            wait_handled(emu, token, update["update_id"])
    finally:
        assert process.stop() == 0
    with open(process.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    process.log_path.unlink(missing_ok=True)
    assert "DEBUG" in log  # the level really was DEBUG
    for token, _ in codes:
        assert token not in log
        assert token.partition(":")[2] not in log
