"""Owner control: paused codes, a project's contact, undelivered join links, the owner digest

Revision ID: owner_01
Revises: insight_01
"""

import sqlalchemy as sa
from alembic import op

revision = "owner_01"
down_revision = "insight_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("access_code", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact", sa.String(length=255), nullable=True))
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_undelivered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("link_undelivered_reason", sa.String(length=255), nullable=True)
        )
    with op.batch_alter_table("owner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_sent_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("owner", schema=None) as batch_op:
        batch_op.drop_column("digest_sent_at")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("link_undelivered_reason")
        batch_op.drop_column("link_undelivered_at")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("contact")
    with op.batch_alter_table("access_code", schema=None) as batch_op:
        batch_op.drop_column("paused_at")
