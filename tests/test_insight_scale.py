"""Insight on a big project: the dashboard home's counts and the charts' members come from
tallies the database keeps in step with the rows, and the home page's questions about codes
read only the codes that answer them (the plans of the queries on PostgreSQL are the proof)."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, insert, select, text

from tests.dashboard_helpers import data
from tests.factories import make_code, make_plan, make_project, tg_user
from webapp.domain import attention, charts, code_queries, exports
from webapp.domain.activation import activate_code
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.projects import project_overview
from webapp.domain.rollback import rollback_activation, rollback_code, rollback_codes
from webapp.extensions import db
from webapp.models import (
    AccessCode,
    Activation,
    ActivityHour,
    ActivityTotal,
    AuditEvent,
    Batch,
    Owner,
    Subscription,
)


def shown(session, project):
    """(codes, activations) as the home page shows them, and as the rows count them."""
    session.flush()
    [summary] = project_overview(session, project.owner_id)
    live = session.scalar(
        select(func.count()).where(
            AccessCode.project_id == project.id, AccessCode.deleted_at.is_(None)
        )
    )
    on_record = session.scalar(select(func.count()).where(Activation.project_id == project.id))
    return (summary.codes, summary.activations), (live, on_record)


def test_home_counts_follow_codes_made_activated_and_rolled_back(session, now):
    project = make_project()
    plan = make_plan(project)
    single, shared = make_code(plan, now), make_code(plan, now, max_activations=3)
    _, batch = create_codes(
        session,
        project.id,
        CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=4),
        owner_id=project.owner_id,
        now=now,
    )
    assert shown(session, project) == ((6, 0), (6, 0))

    activate_code(session, project.id, single.code, tg_user(), now)
    refund = activate_code(session, project.id, shared.code, tg_user(), now).activation
    activate_code(session, project.id, shared.code, tg_user(), now)
    activate_code(session, project.id, batch[0].code, tg_user(), now)
    assert shown(session, project) == ((6, 4), (6, 4))

    rollback_activation(session, project.id, refund.id, owner_id=None, now=now)
    assert shown(session, project) == ((6, 3), (6, 3))
    rollback_code(session, project.id, single.id, owner_id=None, now=now)
    assert shown(session, project) == ((5, 2), (5, 2))
    # Rolled back together, and one of them twice: each code is taken off once.
    rollback_codes(
        session, project.id, [batch[0].id, batch[1].id, single.id], owner_id=None, now=now
    )
    assert shown(session, project) == ((3, 1), (3, 1))


def test_members_active_before_the_period_are_all_starts_less_all_ends_before_it(session, now):
    project = make_project()
    plan = make_plan(project, name="1 year", unit="month", count=12)
    long_ago = now - timedelta(days=40)
    for _ in range(3):
        activate_code(session, project.id, make_code(plan, long_ago).code, tg_user(), long_ago)
    ended = session.scalars(select(Subscription).where(Subscription.project_id == project.id))
    first = ended.first()
    first.ended_at, first.end_reason = now - timedelta(days=35), "expired"
    activate_code(session, project.id, make_code(plan, now).code, tg_user(), now)
    session.flush()

    total = session.get(ActivityTotal, project.id)
    hours = session.execute(
        select(func.sum(ActivityHour.started), func.sum(ActivityHour.ended)).where(
            ActivityHour.project_id == project.id
        )
    ).one()
    assert (total.activations, total.started, total.ended) == (4, 4, 1)
    assert tuple(hours) == (4, 1)
    days = charts.activity(session, (project.id,), 30, ZoneInfo("UTC"), now).days
    assert days[0].active == 2  # two of the three from before, the third ended
    assert days[-1].active == 3 and days[-1].started == 1


def test_exports_longer_than_their_first_page_have_every_row_once(session, now, monkeypatch):
    """The first page of a download is small (it starts at once), the rest come in bigger
    pages; every code, member and activation is in it exactly once."""
    monkeypatch.setattr(exports, "FIRST_PAGE", 2)
    monkeypatch.setattr(exports, "EXPORT_PAGE", 3)
    project = make_project()
    plan = make_plan(project)
    # The texts, read now: an activation expires the rows it changed, and the export pages
    # through sessions of its own.
    code_texts = [make_code(plan, now - timedelta(minutes=i)).code for i in range(8)]
    for code in code_texts[:7]:
        activate_code(session, project.id, code, tg_user(), now - timedelta(hours=1))
    session.flush()
    projects, tz = {project.id: project}, ZoneInfo("UTC")
    listed = [row[0] for row in exports.code_rows(
        session, code_queries.CodeFilter(project_ids=(project.id,)), projects, tz, now
    )]
    assert sorted(listed) == sorted(code_texts)
    members = list(exports.member_rows(session, projects, tz, now))
    assert len({row[2] for row in members}) == len(members) == 7
    span = exports.parse_range(None, None, now.date())
    activated = [row[4] for row in exports.activation_rows(session, projects, span, tz, now)]
    assert sorted(activated) == sorted(code_texts[:7])


# -- The plans on PostgreSQL -------------------------------------------------------------------


@pytest.fixture
def big_project(session, now):
    """A project of 5,000 codes nobody needs to hear about (unused, no expiry), with one code
    nearly used up, one single code and one batch expiring tomorrow, 100 single codes expiring
    in a month."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the plans that matter are PostgreSQL's")
    project = make_project()
    plan = make_plan(project)
    row = {"project_id": project.id, "plan_id": plan.id, "activation_count": 0}
    session.execute(
        insert(AccessCode),
        [
            {
                **row,
                "code": f"QUIET{i}",
                "lookup_key": f"QUIET{i}",
                "max_activations": 5,
                "created_at": now - timedelta(minutes=i),
                "expires_at": now + timedelta(days=30) if i < 100 else None,
            }
            for i in range(5000)
        ],
    )
    popular = make_code(plan, now, max_activations=10)
    session.execute(
        text("UPDATE access_code SET activation_count = 9 WHERE id = :id"), {"id": popular.id}
    )
    expiring = make_code(plan, now, max_activations=3, expires_at=now + timedelta(days=1))
    batch, _ = create_codes(
        session,
        project.id,
        CodeRequest(
            plan_id=plan.id, max_activations=1, expires_at=now + timedelta(days=1), count=3
        ),
        owner_id=project.owner_id,
        now=now,
    )
    session.execute(text("ANALYZE access_code"))
    session.execute(text("ANALYZE batch"))
    return project, popular, expiring, batch


def plan_of(session, query) -> str:
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    return "\n".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))


def test_nearly_used_up_codes_come_off_an_index_of_only_those(session, now, big_project):
    project, popular, _, _ = big_project
    session.execute(text("SET LOCAL enable_seqscan = off"))
    query = attention.nearly_used_up_query([project.id], now)
    report = plan_of(session, query)
    assert "ix_access_code_nearly_used_up" in report, report
    assert "Sort" not in report, report
    assert [c.id for c in session.scalars(query)] == [popular.id]


def test_codes_expiring_soon_are_read_by_expiry_from_an_index_of_single_codes(
    session, now, big_project
):
    project, _, expiring, _ = big_project
    session.execute(text("SET LOCAL enable_seqscan = off"))
    query = attention.expiring_codes_query([project.id], now)
    report = plan_of(session, query)
    assert "ix_access_code_project_expires" in report, report
    assert "Sort" not in report, report
    assert [c.id for c in session.scalars(query)] == [expiring.id]


def test_a_batch_expiring_soon_looks_up_its_own_codes_only(session, now, big_project):
    project, _, _, batch = big_project
    query = attention.expiring_batches_query([project.id], now)
    report = plan_of(session, query)
    assert "Seq Scan on access_code" not in report, report
    assert "ix_access_code_batch_id" in report, report
    assert [b.id for b in session.scalars(query)] == [batch.id]
    assert session.get(Batch, batch.id).size == 3


def _rows_read(node: dict, table: str) -> int:
    """Rows a plan node and its children read from ``table`` (returned or filtered away)."""
    read = 0
    if node.get("Relation Name") == table:
        loops = node.get("Actual Loops", 1)
        kept = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += kept * loops
    return read + sum(_rows_read(child, table) for child in node.get("Plans", []))


def test_the_home_page_reads_a_handful_of_codes_of_a_big_project(
    app, client, logged_in_owner, now
):
    """Every statement the dashboard home runs, run again under EXPLAIN ANALYZE: together they
    read fewer than 20 of the project's 5,000 codes, none of its activations and fewer than 20
    of its 3,000 events, and the page still says 5,000 codes and shows the latest activity."""
    with data(app) as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("the plans that matter are PostgreSQL's")
        project = make_project(session.get(Owner, logged_in_owner.id))
        plan = make_plan(project)
        session.execute(
            insert(AccessCode),
            [
                {
                    "project_id": project.id,
                    "plan_id": plan.id,
                    "code": f"QUIET{i}",
                    "lookup_key": f"QUIET{i}",
                    "max_activations": 5,
                    "activation_count": 0,
                    "created_at": now - timedelta(minutes=i),
                }
                for i in range(4997)
            ],
        )
        session.execute(
            insert(AuditEvent),
            [
                {
                    "project_id": project.id,
                    "action": "code.activated",
                    "details": {},
                    "created_at": now - timedelta(days=1, minutes=i),
                }
                for i in range(3000)
            ],
        )
        for _ in range(3):
            activate_code(session, project.id, make_code(plan, now).code, tg_user(), now)
        for table in ("access_code", "activation", "audit_event"):
            session.execute(text(f"ANALYZE {table}"))

    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", keep)
        try:
            page = client.get("/").get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", keep)
        assert '<span class="num">5000</span><span class="label">codes</span>' in page
        assert '<span class="num">3</span><span class="label">activations</span>' in page
        read = {"access_code": 0, "activation": 0, "audit_event": 0}
        with db.engine.connect() as conn:
            for statement, parameters in statements:
                explained = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                ).scalar()
                root = (json.loads(explained) if isinstance(explained, str) else explained)[0]
                for table in read:
                    read[table] += _rows_read(root["Plan"], table)
    assert len(statements) > 5
    assert read["access_code"] < 20 and read["activation"] == 0, read
    assert read["audit_event"] < 20, read  # the latest five of 3,003 events
