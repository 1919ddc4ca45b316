"""The dashboard's code queries: keyset pages, status filters in SQL, search, owner scoping."""

from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, text

from tests.factories import make_code, make_owner, make_plan, make_project, tg_user
from webapp.domain import code_queries as q
from webapp.domain.activation import activate_code
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.errors import NotFound
from webapp.domain.rollback import rollback_code
from webapp.extensions import db
from webapp.models import AccessCode, Batch


def _make_codes(plan, now, n, step=timedelta(seconds=1), **kw):
    return [make_code(plan, now + i * step, **kw) for i in range(n)]


def _all_pages(session, flt, now, limit):
    pages, page = [], q.list_codes(session, flt, now, limit=limit)
    pages.append(page)
    while page.older:
        page = q.list_codes(session, flt, now, after=page.older, limit=limit)
        pages.append(page)
    return pages


def test_pages_walk_every_code_once_newest_first(session, now):
    plan = make_plan(make_project())
    codes = _make_codes(plan, now, 23)
    flt = q.CodeFilter(project_ids=(plan.project_id,))
    pages = _all_pages(session, flt, now + timedelta(days=1), limit=10)
    assert [len(p.codes) for p in pages] == [10, 10, 3]
    seen = [c.id for p in pages for c in p.codes]
    assert seen == [c.id for c in reversed(codes)]
    assert pages[0].newer is None and pages[-1].older is None


def test_codes_made_in_the_same_instant_are_ordered_by_id_across_pages(session, now):
    plan = make_plan(make_project())
    _, codes = create_codes(
        session,
        plan.project_id,
        CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=25),
        owner_id=None,
        now=now,
    )
    flt = q.CodeFilter(project_ids=(plan.project_id,))
    seen = [c.id for p in _all_pages(session, flt, now, limit=7) for c in p.codes]
    assert seen == sorted((c.id for c in codes), reverse=True)


def test_newer_link_goes_back_to_the_exact_previous_page(session, now):
    plan = make_plan(make_project())
    _make_codes(plan, now, 25)
    flt = q.CodeFilter(project_ids=(plan.project_id,))
    first = q.list_codes(session, flt, now, limit=10)
    second = q.list_codes(session, flt, now, after=first.older, limit=10)
    back = q.list_codes(session, flt, now, before=second.newer, limit=10)
    assert [c.id for c in back.codes] == [c.id for c in first.codes]
    assert back.newer is None and back.older == first.older


def test_several_projects_are_merged_in_time_order(session, now):
    owner = make_owner()
    plan_a = make_plan(make_project(owner, name="A"))
    plan_b = make_plan(make_project(owner, name="B"))
    made = []
    for i in range(12):
        made.append(make_code(plan_a if i % 3 else plan_b, now + timedelta(minutes=i)))
    flt = q.CodeFilter(project_ids=(plan_a.project_id, plan_b.project_id))
    seen = [c.id for p in _all_pages(session, flt, now, limit=5) for c in p.codes]
    assert seen == [c.id for c in reversed(made)]


def test_status_filters_match_the_codes_own_status(session, now):
    plan = make_plan(make_project())
    active = make_code(plan, now, max_activations=2)
    used_up = make_code(plan, now, max_activations=1)
    activate_code(session, plan.project_id, used_up.code, tg_user(), now)
    expired = make_code(plan, now, expires_at=now + timedelta(hours=1))
    expired_and_used = make_code(plan, now, max_activations=1, expires_at=now + timedelta(hours=1))
    activate_code(session, plan.project_id, expired_and_used.code, tg_user(), now)
    rolled = make_code(plan, now)
    rollback_code(session, plan.project_id, rolled.id, owner_id=None, now=now)
    later = now + timedelta(hours=2)

    def ids(status):
        flt = q.CodeFilter(project_ids=(plan.project_id,), status=status)
        return {c.id for c in q.list_codes(session, flt, later).codes}

    assert ids("active") == {active.id}
    assert ids("used_up") == {used_up.id}
    assert ids("expired") == {expired.id, expired_and_used.id}
    assert ids("rolled_back") == {rolled.id}
    assert ids(None) == {active.id, used_up.id, expired.id, expired_and_used.id}
    everything = session.scalars(select(AccessCode).where(AccessCode.project_id == plan.project_id))
    for code in everything:
        label = code.status(later).replace(" ", "_")
        assert code.id in ids(label)


def test_search_matches_the_start_of_a_code_in_any_case_with_or_without_hyphens(session, now):
    plan = make_plan(make_project())
    wanted = make_code(plan, now, custom_code="GOLD-2026-VIP")
    make_code(plan, now, custom_code="SILVER-2026")
    make_code(plan, now, custom_code="XGOLD-12")

    def found(text):
        flt = q.CodeFilter(project_ids=(plan.project_id,), search=text)
        return [c.id for c in q.list_codes(session, flt, now).codes]

    assert found("gold") == [wanted.id]
    assert found("gold2026") == [wanted.id]
    assert found("GOLD-2026-V") == [wanted.id]
    assert found("nothing") == []
    assert found("%") == []  # LIKE wildcards are literal


def test_plan_and_batch_filters(session, now):
    project = make_project()
    plan_a, plan_b = make_plan(project, name="A"), make_plan(project, name="B")
    a = make_code(plan_a, now)
    batch, in_batch = create_codes(
        session,
        project.id,
        CodeRequest(plan_id=plan_b.id, max_activations=1, expires_at=None, count=3),
        owner_id=None,
        now=now,
    )
    by_plan = q.list_codes(session, q.CodeFilter(project_ids=(project.id,), plan_id=plan_a.id), now)
    assert [c.id for c in by_plan.codes] == [a.id]
    by_batch = q.list_codes(
        session, q.CodeFilter(project_ids=(project.id,), batch_id=batch.id), now
    )
    assert {c.id for c in by_batch.codes} == {c.id for c in in_batch}


def test_a_plan_of_a_project_outside_the_filter_lists_nothing(session, now):
    mine = make_plan(make_project())
    theirs = make_plan(make_project())
    make_code(theirs, now)
    flt = q.CodeFilter(project_ids=(mine.project_id,), plan_id=theirs.id)
    assert q.list_codes(session, flt, now).codes == []


def test_a_page_never_counts_the_table(session, now):
    plan = make_plan(make_project())
    _make_codes(plan, now, 5)
    session.flush()
    statements = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement.lower())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        q.list_codes(session, q.CodeFilter(project_ids=(plan.project_id,)), now, limit=2)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert len(statements) == 1, statements
    assert "count(" not in statements[0] and "limit" in statements[0]


def test_a_page_is_read_in_index_order_without_sorting_the_project(session, now):
    """The plan of the page query walks ix_access_code_project_created: no sort of all codes.

    The 100,000-code timings are in the report; here the plan itself is the proof, with the
    planner told to avoid sequential scans since a test table is tiny.
    """
    plan = make_plan(make_project())
    _make_codes(plan, now, 30)
    session.flush()
    if db.engine.dialect.name == "postgresql":
        # Statistics outlive the per-test TRUNCATE: plan on this table, not an earlier one's.
        session.execute(text("ANALYZE access_code"))
    flt = q.CodeFilter(project_ids=(plan.project_id,), status="active")
    cursor = q.Cursor(now + timedelta(seconds=20), 10**9)
    query = q._page_query(flt, plan.project_id, now, cursor, False, 51)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
        lines = [row[0] for row in session.execute(text("EXPLAIN " + sql))]
    else:
        lines = [row[-1] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql))]
    report = "\n".join(lines)
    assert "ix_access_code_project_created" in report, report
    assert "Sort" not in report and "TEMP B-TREE" not in report, report


def test_a_long_code_search_walks_the_code_index_not_every_code(session, now):
    """Searching for (the start of) one code must not read the project's codes one by one.

    On PostgreSQL the lookup key is in byte order, so LIKE 'K7QF%' is a range on the unique
    (project_id, lookup_key) index; SQLite's LIKE cannot use it and is left as it is.
    """
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's LIKE is case-insensitive and never uses an index")
    plan = make_plan(make_project())
    session.execute(
        text(
            "INSERT INTO access_code (project_id, plan_id, code, lookup_key, max_activations,"
            " activation_count, created_at) SELECT :p, :plan, md5(i::text), upper(md5(i::text)),"
            " 1, 0, now() FROM generate_series(1, 20000) AS i"
        ),
        {"p": plan.project_id, "plan": plan.id},
    )
    session.execute(text("ANALYZE access_code"))
    flt = q.CodeFilter(project_ids=(plan.project_id,), search="C4CA-4238-A0B9")
    query = q._page_query(flt, plan.project_id, now, None, False, 51)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    report = "\n".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))
    assert "uq_access_code_project_id_lookup_key" in report, report
    assert [c.lookup_key for c in q.list_codes(session, flt, now).codes] == [
        "C4CA4238A0B923820DCC509A6F75849B"
    ]


@pytest.mark.parametrize(
    ("status", "index"),
    [
        ("rolled_back", "ix_access_code_project_rolled_back"),
        ("used_up", "ix_access_code_project_used_up"),
        ("expired", "ix_access_code_project_expiring"),
    ],
)
def test_a_rare_status_filter_reads_only_the_codes_it_can_match(session, now, status, index):
    """With 5,000 live, unused codes and none of that status, the page is one short index read."""
    plan = make_plan(make_project())
    session.execute(
        insert(AccessCode),
        [
            {
                "project_id": plan.project_id,
                "plan_id": plan.id,
                "code": f"CODE{i}",
                "lookup_key": f"CODE{i}",
                "max_activations": 1,
                "activation_count": 0,
                "created_at": now + timedelta(seconds=i),
            }
            for i in range(5000)
        ],
    )
    session.execute(text("ANALYZE"))
    flt = q.CodeFilter(project_ids=(plan.project_id,), status=status)
    query = q._page_query(flt, plan.project_id, now, None, False, 51)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "postgresql":
        lines = [row[0] for row in session.execute(text("EXPLAIN " + sql))]
    else:
        lines = [row[-1] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql))]
    assert index in "\n".join(lines), lines
    assert q.list_codes(session, flt, now).codes == []


def test_cursor_survives_its_text_form_to_the_microsecond(now):
    cursor = q.Cursor(now.replace(microsecond=123457), 42)
    assert q.Cursor.decode(cursor.encode()) == cursor
    assert q.Cursor.decode("garbage") is None
    assert q.Cursor.decode("1.x") is None
    assert q.Cursor.decode("99999999999999999999999.1") is None


def test_owner_lookups_refuse_other_owners_things(session, now):
    mine = make_plan(make_project())
    theirs = make_plan(make_project())
    code = make_code(theirs, now)
    owner_id = mine.project.owner_id
    with pytest.raises(NotFound):
        q.owner_code(session, owner_id, code.id)
    with pytest.raises(NotFound):
        q.owner_plan(session, owner_id, theirs.id)
    with pytest.raises(NotFound):
        q.owner_project(session, owner_id, theirs.project_id)
    assert q.owner_code(session, theirs.project.owner_id, code.id) is code


def test_code_history_includes_its_batch_creation(session, now):
    plan = make_plan(make_project())
    batch, codes = create_codes(
        session,
        plan.project_id,
        CodeRequest(plan_id=plan.id, max_activations=2, expires_at=None, count=2),
        owner_id=None,
        now=now,
    )
    activate_code(session, plan.project_id, codes[0].code, tg_user(), now + timedelta(minutes=5))
    actions = [e.action for e in q.code_history(session, codes[0])]
    assert actions == ["code.activated", "batch.created"]
    assert [e.action for e in q.code_history(session, codes[1])] == ["batch.created"]


def test_batches_are_listed_newest_first_with_their_live_codes(session, now):
    plan = make_plan(make_project())
    made = []
    for i in range(3):
        batch, codes = create_codes(
            session,
            plan.project_id,
            CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=2),
            owner_id=None,
            now=now + timedelta(minutes=i),
        )
        made.append((batch, codes))
    rollback_code(session, plan.project_id, made[0][1][0].id, owner_id=None, now=now)
    first, older = q.list_batches(session, (plan.project_id,), limit=2)
    rest, none = q.list_batches(session, (plan.project_id,), after=older, limit=2)
    assert [b.id for b in first + rest] == [b.id for b, _ in reversed(made)]
    assert none is None
    assert q.batch_live_counts(session, [b.id for b, _ in made])[made[0][0].id] == 1
    assert [c.id for c in q.batch_codes(session, made[0][0].id)] == [made[0][1][1].id]
    assert session.get(Batch, made[0][0].id).size == 2
