"""Making codes: secrecy, readability, deep-link validity, limits, custom codes."""

import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import make_code, make_plan, make_project
from webapp.domain import codes as codes_domain
from webapp.domain.codes import (
    ALPHABET,
    MAX_BATCH,
    CodeRequest,
    activation_link,
    create_codes,
    expiry_from_preset,
    generate_code,
    is_deep_link_payload,
    lookup_key,
)
from webapp.domain.errors import InvalidInput
from webapp.models import AccessCode, AuditEvent, Batch


def test_alphabet_has_no_confusable_characters():
    assert not set("01OIL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET)


def test_a_code_carries_at_least_60_bits_of_randomness():
    symbols = codes_domain.GROUPS * codes_domain.GROUP_LENGTH
    assert symbols * math.log2(len(ALPHABET)) >= 60


def test_generated_codes_are_grouped_for_reading_and_valid_deep_link_payloads():
    for _ in range(200):
        code = generate_code()
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}(-[2-9A-HJKMNP-Z]{4}){3}", code)
        assert is_deep_link_payload(code)


def test_generated_codes_do_not_repeat():
    assert len({generate_code() for _ in range(10_000)}) == 10_000


def test_codes_match_whatever_the_case_spaces_or_hyphens():
    assert lookup_key("k7qf-m2xd 9prt-abcd") == lookup_key("K7QFM2XD9PRTABCD")


@pytest.mark.parametrize("payload", ["", "a" * 65, "has space", "ünïcode", "semi;colon"])
def test_invalid_deep_link_payloads_are_recognised(payload):
    assert not is_deep_link_payload(payload)


def test_activation_link_points_at_the_projects_bot():
    assert activation_link("GoldClubBot", "K7QF-M2XD") == "https://t.me/GoldClubBot?start=K7QF-M2XD"


def test_single_code_has_no_batch_and_is_audited(session, now):
    plan = make_plan(make_project())
    batch, made = create_codes(
        session, plan.project_id, CodeRequest(plan.id, 5, None), owner_id=None, now=now
    )
    assert batch is None and len(made) == 1
    assert made[0].max_activations == 5 and made[0].activation_count == 0
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.code_id == made[0].id))
    assert list(events) == ["code.created"]


def test_bulk_generation_of_500_makes_one_batch_of_distinct_codes(session, now):
    plan = make_plan(make_project())
    batch, made = create_codes(
        session, plan.project_id, CodeRequest(plan.id, 1, None, count=500), owner_id=None, now=now
    )
    assert batch.size == 500
    assert len({c.lookup_key for c in made}) == 500
    assert session.scalar(select(func.count()).where(AccessCode.batch_id == batch.id)) == 500


@pytest.mark.parametrize(
    ("field", "request_fields"),
    [
        ("count", {"count": MAX_BATCH + 1}),
        ("count", {"count": 0}),
        ("max_activations", {"max_activations": 0}),
        ("expiry", {"expires_at": "past"}),
        ("custom_code", {"custom_code": "has space"}),
        ("custom_code", {"custom_code": "-starts-with-dash"}),
        ("custom_code", {"custom_code": "abc"}),
        ("custom_code", {"custom_code": "x" * 65}),
        ("custom_code", {"custom_code": "GOLD2026", "count": 2}),
        ("custom_code", {"custom_code": "Owner_abcdef"}),
    ],
)
def test_a_wrong_request_is_refused_before_anything_is_written(session, now, field, request_fields):
    plan = make_plan(make_project())
    fields = {"plan_id": plan.id, "max_activations": 1, "expires_at": None, **request_fields}
    if fields["expires_at"] == "past":
        fields["expires_at"] = now - timedelta(seconds=1)
    with pytest.raises(InvalidInput) as refused:
        create_codes(session, plan.project_id, CodeRequest(**fields), owner_id=None, now=now)
    assert refused.value.field == field
    assert session.scalar(select(func.count()).select_from(AccessCode)) == 0
    assert session.scalar(select(func.count()).select_from(Batch)) == 0


def test_a_plan_of_another_project_cannot_be_used(session, now):
    plan = make_plan(make_project())
    other = make_project()
    with pytest.raises(InvalidInput) as refused:
        create_codes(session, other.id, CodeRequest(plan.id, 1, None), owner_id=None, now=now)
    assert refused.value.field == "plan"


def test_custom_code_is_unique_per_project_ignoring_case(session, now):
    plan = make_plan(make_project())
    make_code(plan, now, custom_code="SUMMER-2026")
    with pytest.raises(InvalidInput) as refused:
        make_code(plan, now, custom_code="summer2026")
    assert refused.value.field == "custom_code"
    other_plan = make_plan(make_project())
    assert make_code(other_plan, now, custom_code="SUMMER-2026").code == "SUMMER-2026"


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("never", None), ("1d", timedelta(days=1)), ("1w", timedelta(weeks=1))],
)
def test_expiry_presets(now, preset, expected):
    assert expiry_from_preset(preset, now) == (None if expected is None else now + expected)


def test_one_month_expiry_is_a_calendar_month():
    now = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)  # a calendar fact: a date of its own
    assert expiry_from_preset("1m", now) == now.replace(month=12)
    assert expiry_from_preset("3m", now) == now.replace(year=2027, month=2)


def test_unknown_expiry_preset_is_refused(now):
    with pytest.raises(InvalidInput):
        expiry_from_preset("forever-and-a-day", now)
