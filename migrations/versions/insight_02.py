"""insight at scale: one activity row per hour, all-time totals per project, a project's live
code count, an activation's funnel steps written with it, indexes for the needs-attention
inbox's code questions and the link tests

The dashboard home and the charts read these instead of a million codes: the code count from
``code_tally``, the activations from ``activity_total``, a year of charts from 8,760 hour rows
(one per hour, every measure in it, instead of one per measure).

Revision ID: insight_02
Revises: security_01
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "insight_02"
down_revision = "security_01"
branch_labels = None
depends_on = None

# Frozen copies of webapp.models' predicates (a migration never imports the models).
NEARLY_USED_UP = (
    "deleted_at IS NULL AND paused_at IS NULL AND max_activations >= 5"
    " AND activation_count < max_activations"
    " AND (max_activations - activation_count) * 10 <= max_activations"
)
SINGLE_CODE_EXPIRING = (
    "deleted_at IS NULL AND paused_at IS NULL AND batch_id IS NULL AND expires_at IS NOT NULL"
)
LINK_TESTS = "action = 'link.tested'"

# An activation's own funnel steps (opened, activated) are written by the activation trigger,
# in the same statement as the activation: no round trip of their own on the activation path,
# and no code path that inserts an activation can leave them out.
#
# Lock order. Each tally row is one row that many transactions update, so each is taken at a
# point where every transaction that takes it has the same locks before and after it:
# - activity_total right after the hour's activity_hour row, in the same trigger (an
#   activation, a subscription's end), and before the funnel's tallies; the only other writer, a rollback deleting activations,
#   has taken it already when it ended a subscription, or holds nothing an activation waits for.
# - code_tally is a row of its own: a rollback takes it first thing (its UPDATE of deleted_at)
#   and then locks customers; an activation, which locks its customer first, never touches it.
#   Were the code count a column of activity_total, the two would wait for each other.
PG_TRIGGERS = """
CREATE FUNCTION activation_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO activity_hour (project_id, hour, activated, started, renewed, ended)
  VALUES (NEW.project_id, date_trunc('hour', NEW.activated_at), 1,
          CASE WHEN NEW.created_subscription THEN 1 ELSE 0 END,
          CASE WHEN NEW.created_subscription THEN 0 ELSE 1 END, 0)
  ON CONFLICT (project_id, hour) DO UPDATE SET
    activated = activity_hour.activated + 1,
    started = activity_hour.started + EXCLUDED.started,
    renewed = activity_hour.renewed + EXCLUDED.renewed;
  INSERT INTO activity_total (project_id, activations, started, ended)
  VALUES (NEW.project_id, 1, CASE WHEN NEW.created_subscription THEN 1 ELSE 0 END, 0)
  ON CONFLICT (project_id) DO UPDATE SET
    activations = activity_total.activations + 1,
    started = activity_total.started + EXCLUDED.started;
  INSERT INTO funnel_step (project_id, plan_id, batch_id, code_id, customer_id, step, detail, at)
  SELECT NEW.project_id, c.plan_id, c.batch_id, NEW.code_id, NEW.customer_id, s.step, '',
         NEW.activated_at
  FROM access_code c CROSS JOIN (VALUES ('opened'), ('activated')) AS s(step)
  WHERE c.id = NEW.code_id
  ON CONFLICT (code_id, customer_id, step, detail) DO NOTHING;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER activation_tally AFTER INSERT ON activation
  FOR EACH ROW EXECUTE FUNCTION activation_tally();

CREATE FUNCTION activation_removed_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO activity_total (project_id, activations, started, ended)
  SELECT project_id, -count(*), 0, 0 FROM removed GROUP BY project_id ORDER BY project_id
  ON CONFLICT (project_id) DO UPDATE SET
    activations = activity_total.activations + EXCLUDED.activations;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER activation_removed_tally AFTER DELETE ON activation
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION activation_removed_tally();

CREATE FUNCTION subscription_end_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO activity_hour (project_id, hour, activated, started, renewed, ended)
  VALUES (NEW.project_id, date_trunc('hour', NEW.ended_at), 0, 0, 0, 1)
  ON CONFLICT (project_id, hour) DO UPDATE SET ended = activity_hour.ended + 1;
  INSERT INTO activity_total (project_id, activations, started, ended)
  VALUES (NEW.project_id, 0, 0, 1)
  ON CONFLICT (project_id) DO UPDATE SET ended = activity_total.ended + 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER subscription_end_tally AFTER UPDATE OF ended_at ON subscription
  FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
  EXECUTE FUNCTION subscription_end_tally();

-- Codes come 500 to an INSERT (a million in the benchmark's seed): one tally update per
-- statement, not per code.
CREATE FUNCTION code_added_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO code_tally (project_id, codes)
  SELECT project_id, count(*) FROM added WHERE deleted_at IS NULL
  GROUP BY project_id ORDER BY project_id
  ON CONFLICT (project_id) DO UPDATE SET codes = code_tally.codes + EXCLUDED.codes;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER code_added_tally AFTER INSERT ON access_code
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION code_added_tally();

CREATE FUNCTION code_removed_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO code_tally (project_id, codes)
  SELECT project_id, -count(*) FROM removed WHERE deleted_at IS NULL
  GROUP BY project_id ORDER BY project_id
  ON CONFLICT (project_id) DO UPDATE SET codes = code_tally.codes + EXCLUDED.codes;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER code_removed_tally AFTER DELETE ON access_code
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION code_removed_tally();

-- Per row, and only when deleted_at is set or cleared: an activation's UPDATE of the count
-- does not run it at all.
CREATE FUNCTION code_rolled_back_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO code_tally (project_id, codes)
  VALUES (NEW.project_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
  ON CONFLICT (project_id) DO UPDATE SET codes = code_tally.codes + EXCLUDED.codes;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER code_rolled_back_tally AFTER UPDATE OF deleted_at ON access_code
  FOR EACH ROW WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
  EXECUTE FUNCTION code_rolled_back_tally();
"""
PG_FUNCTIONS = [
    ("activation_tally", "activation"),
    ("activation_removed_tally", "activation"),
    ("subscription_end_tally", "subscription"),
    ("code_added_tally", "access_code"),
    ("code_removed_tally", "access_code"),
    ("code_rolled_back_tally", "access_code"),
]

# SQLite has row triggers only. Its datetimes are text ('YYYY-MM-DD HH:MM:SS.ffffff'); hours
# are kept in that form so they compare with bound values.
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00.000000', {})"
SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER activation_tally AFTER INSERT ON activation
BEGIN
  INSERT INTO activity_hour (project_id, hour, activated, started, renewed, ended)
  VALUES (NEW.project_id, {SQLITE_HOUR.format("NEW.activated_at")}, 1,
          CASE WHEN NEW.created_subscription THEN 1 ELSE 0 END,
          CASE WHEN NEW.created_subscription THEN 0 ELSE 1 END, 0)
  ON CONFLICT (project_id, hour) DO UPDATE SET
    activated = activated + 1, started = started + excluded.started,
    renewed = renewed + excluded.renewed;
  INSERT INTO activity_total (project_id, activations, started, ended)
  VALUES (NEW.project_id, 1, CASE WHEN NEW.created_subscription THEN 1 ELSE 0 END, 0)
  ON CONFLICT (project_id) DO UPDATE SET
    activations = activations + 1, started = started + excluded.started;
  INSERT INTO funnel_step (project_id, plan_id, batch_id, code_id, customer_id, step, detail, at)
  SELECT NEW.project_id, c.plan_id, c.batch_id, NEW.code_id, NEW.customer_id, s.step, '',
         NEW.activated_at
  FROM access_code c, (SELECT 'opened' AS step UNION ALL SELECT 'activated') AS s
  WHERE c.id = NEW.code_id
  ON CONFLICT (code_id, customer_id, step, detail) DO NOTHING;
END
""",
    """
CREATE TRIGGER activation_removed_tally AFTER DELETE ON activation
BEGIN
  INSERT INTO activity_total (project_id, activations, started, ended)
  VALUES (OLD.project_id, -1, 0, 0)
  ON CONFLICT (project_id) DO UPDATE SET activations = activations - 1;
END
""",
    f"""
CREATE TRIGGER subscription_end_tally AFTER UPDATE OF ended_at ON subscription
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
BEGIN
  INSERT INTO activity_hour (project_id, hour, activated, started, renewed, ended)
  VALUES (NEW.project_id, {SQLITE_HOUR.format("NEW.ended_at")}, 0, 0, 0, 1)
  ON CONFLICT (project_id, hour) DO UPDATE SET ended = ended + 1;
  INSERT INTO activity_total (project_id, activations, started, ended)
  VALUES (NEW.project_id, 0, 0, 1)
  ON CONFLICT (project_id) DO UPDATE SET ended = ended + 1;
END
""",
    """
CREATE TRIGGER code_added_tally AFTER INSERT ON access_code WHEN NEW.deleted_at IS NULL
BEGIN
  INSERT INTO code_tally (project_id, codes) VALUES (NEW.project_id, 1)
  ON CONFLICT (project_id) DO UPDATE SET codes = codes + 1;
END
""",
    """
CREATE TRIGGER code_removed_tally AFTER DELETE ON access_code WHEN OLD.deleted_at IS NULL
BEGIN
  INSERT INTO code_tally (project_id, codes) VALUES (OLD.project_id, -1)
  ON CONFLICT (project_id) DO UPDATE SET codes = codes - 1;
END
""",
    """
CREATE TRIGGER code_rolled_back_tally AFTER UPDATE OF deleted_at ON access_code
WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
  INSERT INTO code_tally (project_id, codes)
  VALUES (NEW.project_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
  ON CONFLICT (project_id) DO UPDATE SET codes = codes + excluded.codes;
END
""",
]

# What the triggers would have counted, from the rows themselves (also run by bench.insight
# after seeding rows with the triggers off): the live codes, the activations on record, and the
# starts and ends the hours hold.
TOTALS_FROM_ROWS = [
    "DELETE FROM code_tally",
    "DELETE FROM activity_total",
    """
INSERT INTO code_tally (project_id, codes)
SELECT project_id, count(*) FROM access_code WHERE deleted_at IS NULL GROUP BY project_id
""",
    """
INSERT INTO activity_total (project_id, activations, started, ended)
SELECT p.id,
       (SELECT count(*) FROM activation a WHERE a.project_id = p.id),
       COALESCE((SELECT sum(h.started) FROM activity_hour h WHERE h.project_id = p.id), 0),
       COALESCE((SELECT sum(h.ended) FROM activity_hour h WHERE h.project_id = p.id), 0)
FROM project p
""",
]


def _insight_01():
    path = Path(__file__).with_name("insight_01.py")
    spec = importlib.util.spec_from_file_location("insight_01", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hour_table(name: str, pivoted: bool) -> None:
    if pivoted:
        measures = [
            sa.Column(column, sa.Integer(), nullable=False)
            for column in ("activated", "started", "renewed", "ended")
        ]
        key = ["project_id", "hour"]
    else:
        measures = [
            sa.Column("metric", sa.String(length=16), nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
        ]
        key = ["project_id", "hour", "metric"]
    op.create_table(
        name,
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        *measures,
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name="fk_activity_hour_project_id_project"
        ),
        sa.PrimaryKeyConstraint(*key, name="pk_activity_hour"),
    )


def _set_aside_hours(postgres: bool) -> None:
    """Rename activity_hour out of the way (with its key's index), for a new one to take its
    place."""
    op.rename_table("activity_hour", "activity_hour_old")
    if postgres:
        op.execute("ALTER INDEX pk_activity_hour RENAME TO pk_activity_hour_old")


def _drop_triggers(postgres: bool, triggers: list[tuple[str, str]]) -> None:
    for name, table in triggers:
        if postgres:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
        else:
            op.execute(f"DROP TRIGGER {name}")


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_triggers(
        postgres,
        [("activation_hour_tally", "activation"), ("subscription_end_hour_tally", "subscription")],
    )
    _set_aside_hours(postgres)
    _hour_table("activity_hour", pivoted=True)
    op.execute(
        """
INSERT INTO activity_hour (project_id, hour, activated, started, renewed, ended)
SELECT project_id, hour,
       SUM(CASE WHEN metric = 'activated' THEN count ELSE 0 END),
       SUM(CASE WHEN metric = 'started' THEN count ELSE 0 END),
       SUM(CASE WHEN metric = 'renewed' THEN count ELSE 0 END),
       SUM(CASE WHEN metric = 'ended' THEN count ELSE 0 END)
FROM activity_hour_old GROUP BY project_id, hour
"""
    )
    op.drop_table("activity_hour_old")
    op.create_table(
        "activity_total",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("activations", sa.Integer(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "code_tally",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("codes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )
    for statement in TOTALS_FROM_ROWS:
        op.execute(statement)
    op.create_index(
        "ix_access_code_nearly_used_up",
        "access_code",
        ["project_id", "id"],
        postgresql_where=sa.text(NEARLY_USED_UP),
        sqlite_where=sa.text(NEARLY_USED_UP),
    )
    op.create_index(
        "ix_access_code_project_expires",
        "access_code",
        ["project_id", "expires_at"],
        postgresql_where=sa.text(SINGLE_CODE_EXPIRING),
        sqlite_where=sa.text(SINGLE_CODE_EXPIRING),
    )
    op.create_index(
        "ix_audit_event_link_tests",
        "audit_event",
        ["project_id"],
        postgresql_where=sa.text(LINK_TESTS),
        sqlite_where=sa.text(LINK_TESTS),
    )
    # Created last, so the counts above are not counted twice. (A later SQLite migration that
    # rebuilds one of these tables in batch mode drops its triggers: create them again there.)
    if postgres:
        op.execute(PG_TRIGGERS)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_triggers(postgres, PG_FUNCTIONS)
    op.drop_index("ix_audit_event_link_tests", table_name="audit_event")
    op.drop_index("ix_access_code_project_expires", table_name="access_code")
    op.drop_index("ix_access_code_nearly_used_up", table_name="access_code")
    op.drop_table("code_tally")
    op.drop_table("activity_total")
    _set_aside_hours(postgres)
    _hour_table("activity_hour", pivoted=False)
    op.execute(
        """
INSERT INTO activity_hour (project_id, hour, metric, count)
SELECT project_id, hour, 'activated', activated FROM activity_hour_old WHERE activated > 0
UNION ALL
SELECT project_id, hour, 'started', started FROM activity_hour_old WHERE started > 0
UNION ALL
SELECT project_id, hour, 'renewed', renewed FROM activity_hour_old WHERE renewed > 0
UNION ALL
SELECT project_id, hour, 'ended', ended FROM activity_hour_old WHERE ended > 0
"""
    )
    op.drop_table("activity_hour_old")
    old = _insight_01()
    if postgres:
        # insight_01's script creates its three functions and triggers; the funnel's exist.
        script = old.PG_TRIGGERS
        start = script.index("CREATE FUNCTION activation_hour_tally")
        op.execute(script[start:])
    else:
        for trigger in old.SQLITE_TRIGGERS[1:]:
            op.execute(trigger)
