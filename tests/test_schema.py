"""The migrations produce exactly the models' schema: no change is missing a migration."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db


def test_migrated_database_matches_the_models(app_ctx):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    # Alembic's own bookkeeping table is not a model.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diff == []
