"""The bulk CSV opens cleanly in spreadsheets and cannot smuggle formulas."""

import csv
import io
from datetime import timedelta

import pytest

from tests.factories import make_plan, make_project
from webapp.domain.codes import CodeRequest, activation_link, create_codes
from webapp.domain.csv_export import HEADER, codes_csv, csv_filename


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM"
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


def test_bulk_csv_has_one_row_per_code_with_link_plan_max_and_expiry(session, now):
    project = make_project()
    plan = make_plan(project, name="Gold Club, 3 months — «VIP»")
    expires = now + timedelta(days=7)
    _, made = create_codes(
        session, project.id, CodeRequest(plan.id, 3, expires, count=250), owner_id=None, now=now
    )

    rows = read_back(codes_csv(made, project.bot_username, plan.name))

    assert rows[0] == HEADER
    assert len(rows) == 251
    by_code = {row[0]: row for row in rows[1:]}
    for code in made:
        row = by_code[code.code]
        assert row[1] == activation_link(project.bot_username, code.code)
        assert row[2] == "Gold Club, 3 months — «VIP»"
        assert row[3] == "3"
        assert row[4] == expires.strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)"])
def test_a_plan_name_cannot_become_a_formula(session, now, dangerous):
    project = make_project()
    plan = make_plan(project, name=dangerous)
    _, made = create_codes(
        session, project.id, CodeRequest(plan.id, 1, None, count=2), owner_id=None, now=now
    )
    rows = read_back(codes_csv(made, project.bot_username, plan.name))
    assert all(row[2] == "'" + dangerous for row in rows[1:])
    assert all(row[4] == "" for row in rows[1:])  # no expiry: an empty date cell, not "never"


def test_csv_file_name_names_project_plan_and_count():
    assert csv_filename("Gold Club", "3 months", 250) == "gold-club-3-months-250-codes.csv"


def test_csv_file_name_does_not_repeat_a_project_name_the_plan_already_has():
    assert csv_filename("Gold Club", "Gold Club VIP", 5) == "gold-club-vip-5-codes.csv"


def test_csv_headers_are_words_for_people():
    assert HEADER == ["Code", "Activation link", "Plan", "Max activations", "Expires (UTC)"]
