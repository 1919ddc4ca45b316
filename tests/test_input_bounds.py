"""No input is a 500: out-of-range ids, pages, cursors and dates are a 404 or a 400 with a message,
in the dashboard and in the bot. Hypothesis keeps it that way for inputs nobody thought of."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telebot import types

from bot.dispatch import on_callback, on_message
from tests.dashboard_helpers import data, text
from tests.factories import make_code, make_owner, make_plan, make_project
from webapp.domain import newcode_wizard
from webapp.domain.errors import InvalidInput
from webapp.domain.ids import DB_INT_MAX, parse_id
from webapp.models import AccessCode

FAR = 3_000_000_000  # above PostgreSQL's integer
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def gold(app, logged_in_owner):
    """The logged-in owner's project, plan and one code."""
    from webapp.models import Owner

    with data(app) as session:
        owner = session.get(Owner, logged_in_owner.id)
        project = make_project(owner)
        plan = make_plan(project, name="Month")
        code = make_code(plan, datetime(2026, 11, 1, tzinfo=UTC))
        return {"project": project.id, "plan": plan.id, "code": code.id}


def _id_routes(app) -> list[str]:
    """Every GET route with an id in its path, filled with an id no row can have."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.arguments and rule.endpoint != "static":
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<int:{name}>", str(FAR))
            if "<" not in path:
                urls.append(path)
    return sorted(urls)


def test_every_id_route_answers_404_for_an_id_beyond_the_database_integer(app, client, gold):
    urls = _id_routes(app)
    assert "/codes/3000000000" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url


@pytest.mark.parametrize(
    "query",
    [
        "/codes/?project=3000000000",
        "/codes/?plan=99999999999999999999",
        "/codes/?batch=-1",
        "/codes/?project=abc",
        "/codes/?after=1.3000000000",
        "/codes/?before=99999999999999999999.1",
        "/codes/?after=1e9.1",
        "/codes/batches?after=1.99999999999999999999",
        "/activity?project=3000000000",
        "/activity?page=99999999999999999999",
        "/activity?page=0",
        "/activity?page=²",
        "/plans?project=3000000000",
        "/plans?project=²",
    ],
)
def test_an_out_of_range_query_parameter_is_a_404(client, gold, query):
    assert client.get(query).status_code == 404


def test_a_page_within_range_still_works(client, gold):
    assert client.get("/activity?page=9").status_code == 200
    assert client.get(f"/codes/?project={gold['project']}").status_code == 200


@pytest.mark.parametrize(
    ("zone", "moment", "message"),
    [
        ("America/New_York", "9999-12-31T23:59", "Pick a date within the next 10 years."),
        ("Asia/Tokyo", "0001-01-01T05:00", "The expiry date must be in the future."),
        ("UTC", "2999-01-01T00:00", "Pick a date within the next 10 years."),
    ],
)
def test_a_custom_expiry_out_of_datetime_range_is_refused_with_a_message(
    app, client, gold, zone, moment, message
):
    with data(app) as session:
        session.scalars(db_select_owner()).one().timezone = zone
    before = _code_count(app)
    response = client.post(
        "/codes/new",
        data={
            "step": "kind",
            "go": "create",
            "plan_id": gold["plan"],
            "max_activations": "1",
            "expiry": "custom",
            "expiry_date": moment,
            "kind": "single",
            "count": "1",
            "custom_code": "",
            "note": "",
        },
    )
    assert response.status_code == 400
    assert message in text(response)
    assert _code_count(app) == before


def db_select_owner():
    from sqlalchemy import select

    from webapp.models import Owner

    return select(Owner)


def _code_count(app) -> int:
    from tests.dashboard_helpers import count

    return count(app, AccessCode)


def test_a_far_expiry_is_shown_after_the_owner_moves_east_of_utc(app, client, gold):
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    with data(app) as session:
        session.get(AccessCode, gold["code"]).expires_at = far
        session.scalars(db_select_owner()).one().timezone = "Asia/Tokyo"
    for url in (f"/codes/{gold['code']}", "/codes/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "9999" in text(response)


# -- Properties --------------------------------------------------------------------------------


@PROPERTY
@given(
    name=st.sampled_from(
        ["project", "plan", "batch", "page", "after", "before", "status", "q", "archived"]
    ),
    value=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.text(max_size=30),
        st.builds(lambda a, b: f"{a}.{b}", st.integers(), st.integers()),
    ),
    path=st.sampled_from(["/codes/", "/activity", "/plans", "/codes/batches", "/codes/new"]),
)
def test_no_query_parameter_makes_a_dashboard_page_fail(client, gold, name, value, path):
    response = client.get(path, query_string={name: value})
    assert response.status_code in (200, 404), (path, name, value, response.status_code)


@PROPERTY
@given(value=st.integers(min_value=0, max_value=2**80))
def test_no_id_in_a_path_makes_the_code_page_fail(client, gold, value):
    response = client.get(f"/codes/{value}")
    assert response.status_code in (200, 404)
    assert (response.status_code == 200) == (value == gold["code"])


@given(st.text(max_size=24))
def test_parse_id_gives_a_database_integer_or_nothing(raw):
    value = parse_id(raw)
    assert value is None or (1 <= value <= DB_INT_MAX and str(value) == raw.lstrip("0"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York"]))
def test_a_typed_expiry_date_is_a_date_or_a_message(raw, zone):
    now = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    try:
        moment = newcode_wizard.parse_expiry_date(raw, zone, now)
    except InvalidInput as exc:
        assert exc.message
    else:
        assert moment > now


@pytest.mark.parametrize(
    "raw", ["9999-12-31", "9999-12-31 23:59", "01.01.0001 05:00", "0001-01-01"]
)
def test_extreme_typed_expiry_dates_get_a_message(raw):
    now = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        newcode_wizard.parse_expiry_date(raw, "Asia/Tokyo", now)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=15))
def test_a_typed_count_is_a_number_or_a_message(raw):
    try:
        value = newcode_wizard.parse_count(
            raw, 1, 500, "count", "The count is a whole number from %(low)s to %(high)s."
        )
    except InvalidInput as exc:
        assert exc.message == "The count is a whole number from 1 to 500."
    else:
        assert 1 <= value <= 500


# -- The bot, in process, against the emulator ----------------------------------------------------


@pytest.fixture
def bot_handlers(app, emulator):
    from bot.handlers import ProjectHandlers

    token = "7100001:AAbounds-test-token-0123456789abcdef"
    emulator.add_bot(token, "BoundsBot", "Bounds Bot")
    emulator.add_user(5550001, "Ann")
    emulator.add_user(5550002, "Olga")
    for user_id in (5550001, 5550002):
        emulator.start_bot(user_id, token)
    with data(app):
        owner = make_owner("olga@example.com", telegram_user_id=5550002)
        project = make_project(
            owner, bot_token=token, bot_user_id=7100001, bot_username="BoundsBot"
        )
        make_plan(project, name="Month")
        project_id = project.id
    handlers = ProjectHandlers(app, project_id, token)
    apologies = []
    handlers.apologise = lambda update: apologies.append(update)
    yield handlers, apologies
    handlers.close()


def _callback(user_id: int, data_text: str) -> types.CallbackQuery:
    return types.CallbackQuery.de_json(
        {
            "id": "1",
            "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "x",
            "data": data_text,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "text": "Pick a plan",
            },
        }
    )


def _message(user_id: int, body: str) -> types.Message:
    return types.Message.de_json(
        {
            "message_id": 2,
            "date": 0,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
            "text": body,
        }
    )


@pytest.mark.parametrize(
    "payload", ["plan:99999999999999999999", "plan:²", "plan:3000000000:code", "newcode:a:b:²"]
)
def test_callback_data_out_of_range_is_a_button_gone_answer_not_an_apology(bot_handlers, payload):
    handlers, apologies = bot_handlers
    handlers.unit(on_callback)(_callback(5550001, payload))
    assert apologies == []


def test_the_owner_typing_a_superscript_count_gets_a_message_not_an_apology(bot_handlers):
    handlers, apologies = bot_handlers
    for body in ("/newcode", "²", "٣", "99999999999999999999"):
        handlers.unit(on_message)(_message(5550002, body))
    assert apologies == []


@PROPERTY
@given(
    payload=st.one_of(
        st.text(max_size=64),
        st.builds(lambda t: f"plan:{t}", st.text(max_size=25)),
        st.builds(lambda t: f"plan:{t}:code", st.text(max_size=25)),
        st.builds(
            lambda a, b, c: f"newcode:{a}:{b}:{c}",
            st.text(max_size=8),
            st.text(max_size=8),
            st.text(max_size=12),
        ),
    )
)
def test_no_callback_data_makes_the_bot_apologise(bot_handlers, payload):
    handlers, apologies = bot_handlers
    handlers.unit(on_callback)(_callback(5550001, payload))
    assert apologies == []


@PROPERTY
@given(body=st.text(min_size=1, max_size=40), who=st.sampled_from([5550001, 5550002]))
def test_no_typed_text_makes_the_bot_apologise(bot_handlers, body, who):
    handlers, apologies = bot_handlers
    handlers.unit(on_message)(_message(who, body))
    assert apologies == []
