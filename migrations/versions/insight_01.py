"""insight: funnel steps, their tallies and hourly activity, kept up to date by triggers

Revision ID: insight_01
Revises: ccedd5ac0aec
"""

import sqlalchemy as sa
from alembic import op

revision = "insight_01"
down_revision = "telegram_01"
branch_labels = None
depends_on = None

# The tallies are kept by the database itself: one round trip per funnel step or activation
# whatever it adds up to, and no code path can forget them.
PG_TRIGGERS = """
CREATE FUNCTION funnel_step_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO funnel_tally (scope, scope_id, step, detail, count)
  VALUES ('plan', NEW.plan_id, NEW.step, NEW.detail, 1)
  ON CONFLICT (scope, scope_id, step, detail) DO UPDATE SET count = funnel_tally.count + 1;
  IF NEW.batch_id IS NOT NULL THEN
    INSERT INTO funnel_tally (scope, scope_id, step, detail, count)
    VALUES ('batch', NEW.batch_id, NEW.step, NEW.detail, 1)
    ON CONFLICT (scope, scope_id, step, detail) DO UPDATE SET count = funnel_tally.count + 1;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER funnel_step_tally AFTER INSERT ON funnel_step
  FOR EACH ROW EXECUTE FUNCTION funnel_step_tally();

CREATE FUNCTION activation_hour_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO activity_hour (project_id, hour, metric, count)
  VALUES (NEW.project_id, date_trunc('hour', NEW.activated_at), 'activated', 1),
         (NEW.project_id, date_trunc('hour', NEW.activated_at),
          CASE WHEN NEW.created_subscription THEN 'started' ELSE 'renewed' END, 1)
  ON CONFLICT (project_id, hour, metric) DO UPDATE SET count = activity_hour.count + 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER activation_hour_tally AFTER INSERT ON activation
  FOR EACH ROW EXECUTE FUNCTION activation_hour_tally();

CREATE FUNCTION subscription_end_hour_tally() RETURNS trigger AS $$
BEGIN
  INSERT INTO activity_hour (project_id, hour, metric, count)
  VALUES (NEW.project_id, date_trunc('hour', NEW.ended_at), 'ended', 1)
  ON CONFLICT (project_id, hour, metric) DO UPDATE SET count = activity_hour.count + 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER subscription_end_hour_tally AFTER UPDATE OF ended_at ON subscription
  FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
  EXECUTE FUNCTION subscription_end_hour_tally();
"""

# SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff'; hours are kept in that
# form so they compare (as text) with bound values.
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00.000000', {})"
SQLITE_TRIGGERS = [
    """
CREATE TRIGGER funnel_step_tally AFTER INSERT ON funnel_step
BEGIN
  INSERT INTO funnel_tally (scope, scope_id, step, detail, count)
  VALUES ('plan', NEW.plan_id, NEW.step, NEW.detail, 1)
  ON CONFLICT (scope, scope_id, step, detail) DO UPDATE SET count = count + 1;
  INSERT INTO funnel_tally (scope, scope_id, step, detail, count)
  SELECT 'batch', NEW.batch_id, NEW.step, NEW.detail, 1 WHERE NEW.batch_id IS NOT NULL
  ON CONFLICT (scope, scope_id, step, detail) DO UPDATE SET count = count + 1;
END
""",
    f"""
CREATE TRIGGER activation_hour_tally AFTER INSERT ON activation
BEGIN
  INSERT INTO activity_hour (project_id, hour, metric, count)
  VALUES (NEW.project_id, {SQLITE_HOUR.format("NEW.activated_at")}, 'activated', 1),
         (NEW.project_id, {SQLITE_HOUR.format("NEW.activated_at")},
          CASE WHEN NEW.created_subscription THEN 'started' ELSE 'renewed' END, 1)
  ON CONFLICT (project_id, hour, metric) DO UPDATE SET count = count + 1;
END
""",
    f"""
CREATE TRIGGER subscription_end_hour_tally AFTER UPDATE OF ended_at ON subscription
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
BEGIN
  INSERT INTO activity_hour (project_id, hour, metric, count)
  VALUES (NEW.project_id, {SQLITE_HOUR.format("NEW.ended_at")}, 'ended', 1)
  ON CONFLICT (project_id, hour, metric) DO UPDATE SET count = count + 1;
END
""",
]


# What the funnel_step trigger would have counted, for rows written without it.
TALLY_FROM_STEPS = """
INSERT INTO funnel_tally (scope, scope_id, step, detail, count)
SELECT 'plan', plan_id, step, detail, count(*) FROM funnel_step GROUP BY plan_id, step, detail
UNION ALL
SELECT 'batch', batch_id, step, detail, count(*) FROM funnel_step WHERE batch_id IS NOT NULL
GROUP BY batch_id, step, detail
"""


def upgrade():
    op.create_table(
        "funnel_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.ForeignKeyConstraint(["code_id"], ["access_code.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_id", "customer_id", "step", "detail"),
    )
    op.create_index("ix_funnel_step_plan", "funnel_step", ["plan_id", "step", "detail", "at"])
    op.create_index("ix_funnel_step_batch", "funnel_step", ["batch_id", "step", "detail", "at"])
    op.create_index("ix_funnel_step_customer", "funnel_step", ["customer_id"])
    op.create_table(
        "funnel_tally",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "scope_id", "step", "detail"),
    )
    op.create_table(
        "activity_hour",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("project_id", "hour", "metric"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    hour = "date_trunc('hour', {})" if postgres else SQLITE_HOUR
    # The history so far: activations still on record, and the ends already written.
    op.execute(
        f"""
INSERT INTO activity_hour (project_id, hour, metric, count)
SELECT project_id, {hour.format("activated_at")}, 'activated', count(*) FROM activation
GROUP BY project_id, {hour.format("activated_at")}
UNION ALL
SELECT project_id, {hour.format("activated_at")},
       CASE WHEN created_subscription THEN 'started' ELSE 'renewed' END, count(*) FROM activation
GROUP BY project_id, {hour.format("activated_at")},
         CASE WHEN created_subscription THEN 'started' ELSE 'renewed' END
UNION ALL
SELECT project_id, {hour.format("ended_at")}, 'ended', count(*) FROM subscription
WHERE ended_at IS NOT NULL GROUP BY project_id, {hour.format("ended_at")}
"""
    )
    op.execute(
        """
INSERT INTO funnel_step (project_id, plan_id, batch_id, code_id, customer_id, step, detail, at)
SELECT a.project_id, c.plan_id, c.batch_id, a.code_id, a.customer_id, 'activated', '',
       a.activated_at
FROM activation a JOIN access_code c ON c.id = a.code_id
"""
    )
    # Tallies of the history in one pass each; the triggers (created after, so the backfill
    # does not update one tally row once per step) keep them from here on.
    op.execute(TALLY_FROM_STEPS)
    if postgres:
        op.execute(PG_TRIGGERS)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER subscription_end_hour_tally ON subscription")
        op.execute("DROP TRIGGER activation_hour_tally ON activation")
        op.execute("DROP TRIGGER funnel_step_tally ON funnel_step")
        op.execute("DROP FUNCTION subscription_end_hour_tally()")
        op.execute("DROP FUNCTION activation_hour_tally()")
        op.execute("DROP FUNCTION funnel_step_tally()")
    else:
        for name in ("subscription_end_hour_tally", "activation_hour_tally", "funnel_step_tally"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("activity_hour")
    op.drop_table("funnel_tally")
    op.drop_index("ix_funnel_step_customer", table_name="funnel_step")
    op.drop_index("ix_funnel_step_batch", table_name="funnel_step")
    op.drop_index("ix_funnel_step_plan", table_name="funnel_step")
    op.drop_table("funnel_step")
