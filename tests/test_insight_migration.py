"""Migration insight_01 on a database with history: the activations already there become
funnel steps and hourly activity, tallied, and the triggers count from then on."""

from datetime import timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.conftest import NOW, ROOT, _test_config
from webapp import create_app
from webapp.extensions import db

HISTORY = """
INSERT INTO owner (id, email, password_hash, timezone, created_at)
  VALUES (1, 'o@example.com', 'x', 'UTC', :at);
INSERT INTO project (id, owner_id, name, bot_token, bot_user_id, bot_username, created_at)
  VALUES (1, 1, 'Gold', '1:T', 1, 'GoldBot', :at);
INSERT INTO plan (id, project_id, name, period_unit, period_count, created_at)
  VALUES (1, 1, '3 months', 'month', 3, :at);
INSERT INTO batch (id, project_id, plan_id, size, max_activations, created_via, created_at)
  VALUES (1, 1, 1, 2, 1, 'dashboard', :at);
INSERT INTO access_code (id, project_id, plan_id, batch_id, code, lookup_key, max_activations,
                         activation_count, created_at)
  VALUES (1, 1, 1, 1, 'AAAA', 'AAAA', 1, 1, :at), (2, 1, 1, 1, 'BBBB', 'BBBB', 1, 1, :at);
INSERT INTO customer (id, project_id, telegram_user_id, created_at) VALUES (1, 1, 11, :at);
INSERT INTO subscription (id, project_id, customer_id, plan_id, started_at, ends_at, ended_at,
                          end_reason)
  VALUES (1, 1, 1, 1, :at, :later, :later, 'expired');
INSERT INTO activation (id, project_id, code_id, customer_id, subscription_id, activated_at,
                        created_subscription)
  VALUES (1, 1, 1, 1, 1, :at, 1), (2, 1, 2, 1, 1, :renewed, 0);
"""


def test_insight_01_turns_the_history_into_steps_tallies_and_hours(tmp_path, redis_url):
    app = create_app(_test_config(f"sqlite:///{tmp_path / 'old.sqlite3'}", redis_url))
    at = (NOW - timedelta(days=3)).replace(minute=20, tzinfo=None)
    params = {
        "at": at.isoformat(" "),
        "renewed": (at + timedelta(days=1)).isoformat(" "),
        "later": (at + timedelta(days=2)).isoformat(" "),
    }
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="ccedd5ac0aec")
        with db.engine.begin() as conn:
            for statement in HISTORY.strip().split(";\n"):
                conn.execute(text(statement), params)
        upgrade(directory=str(ROOT / "migrations"), revision="insight_01")
        with db.engine.begin() as conn:
            steps = conn.execute(text("SELECT code_id, step FROM funnel_step ORDER BY code_id"))
            assert [tuple(r) for r in steps] == [(1, "activated"), (2, "activated")]
            tallies = conn.execute(
                text("SELECT scope, step, count FROM funnel_tally ORDER BY scope")
            )
            assert [tuple(r) for r in tallies] == [
                ("batch", "activated", 2),
                ("plan", "activated", 2),
            ]
            hours = conn.execute(
                text("SELECT metric, sum(count) FROM activity_hour GROUP BY metric ORDER BY metric")
            )
            assert [tuple(r) for r in hours] == [
                ("activated", 2),
                ("ended", 1),
                ("renewed", 1),
                ("started", 1),
            ]
            # From here on the trigger counts each new step once.
            conn.execute(
                text(
                    "INSERT INTO funnel_step (project_id, plan_id, batch_id, code_id, customer_id,"
                    " step, detail, at) VALUES (1, 1, 1, 1, 1, 'opened', '', :at)"
                ),
                params,
            )
            opened = conn.execute(
                text("SELECT count FROM funnel_tally WHERE step = 'opened' ORDER BY scope")
            )
            assert [r[0] for r in opened] == [1, 1]
        downgrade(directory=str(ROOT / "migrations"), revision="ccedd5ac0aec")
        with db.engine.begin() as conn:
            tables = conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'funnel%'"))
            assert list(tables) == []
        db.engine.dispose()


def test_insight_02_keeps_the_hours_in_one_row_each_and_counts_totals_and_codes(
    tmp_path, redis_url
):
    """From security_01 with a history: the hours become one row each with every measure, the
    totals and the live code count are taken from the rows, and the triggers count from then
    on; the downgrade gives back one row per measure."""
    app = create_app(_test_config(f"sqlite:///{tmp_path / 'old.sqlite3'}", redis_url))
    at = (NOW - timedelta(days=3)).replace(minute=20, tzinfo=None)
    params = {
        "at": at.isoformat(" "),
        "renewed": (at + timedelta(days=1)).isoformat(" "),
        "later": (at + timedelta(days=2)).isoformat(" "),
    }
    with app.app_context():
        migrations = str(ROOT / "migrations")
        upgrade(directory=migrations, revision="ccedd5ac0aec")
        with db.engine.begin() as conn:
            for statement in HISTORY.strip().split(";\n"):
                conn.execute(text(statement), params)
            conn.execute(
                text(
                    "INSERT INTO access_code (id, project_id, plan_id, code, lookup_key,"
                    " max_activations, activation_count, created_at, deleted_at)"
                    " VALUES (3, 1, 1, 'CCCC', 'CCCC', 1, 0, :at, :at)"
                ),
                params,
            )
        upgrade(directory=migrations, revision="insight_02")
        with db.engine.begin() as conn:
            hours = conn.execute(
                text(
                    "SELECT activated, started, renewed, ended FROM activity_hour ORDER BY hour"
                )
            )
            assert [tuple(r) for r in hours] == [(1, 1, 0, 0), (1, 0, 1, 0), (0, 0, 0, 1)]
            total = conn.execute(text("SELECT activations, started, ended FROM activity_total"))
            assert [tuple(r) for r in total] == [(2, 1, 1)]
            # Two live codes; the rolled back one is not counted.
            assert conn.execute(text("SELECT codes FROM code_tally")).scalar() == 2
            conn.execute(
                text(
                    "INSERT INTO access_code (id, project_id, plan_id, code, lookup_key,"
                    " max_activations, activation_count, created_at)"
                    " VALUES (4, 1, 1, 'DDDD', 'DDDD', 1, 0, :at)"
                ),
                params,
            )
            conn.execute(text("UPDATE access_code SET deleted_at = :at WHERE id = 1"), params)
            conn.execute(text("DELETE FROM activation WHERE code_id = 1"))
            assert conn.execute(text("SELECT codes FROM code_tally")).scalar() == 2
            assert conn.execute(text("SELECT activations FROM activity_total")).scalar() == 1
        downgrade(directory=migrations, revision="security_01")
        with db.engine.begin() as conn:
            hours = conn.execute(
                text("SELECT metric, sum(count) FROM activity_hour GROUP BY metric ORDER BY metric")
            )
            assert [tuple(r) for r in hours] == [
                ("activated", 2),
                ("ended", 1),
                ("renewed", 1),
                ("started", 1),
            ]
            tables = conn.execute(
                text(
                    "SELECT name FROM sqlite_master"
                    " WHERE name IN ('code_tally', 'activity_total')"
                )
            )
            assert list(tables) == []
            # insight_01's trigger counts again.
            conn.execute(
                text(
                    "INSERT INTO activation (id, project_id, code_id, customer_id,"
                    " subscription_id, activated_at, created_subscription)"
                    " VALUES (3, 1, 4, 1, 1, :later, 0)"
                ),
                params,
            )
            activated = conn.execute(
                text("SELECT sum(count) FROM activity_hour WHERE metric = 'activated'")
            ).scalar()
            assert activated == 3
        db.engine.dispose()
