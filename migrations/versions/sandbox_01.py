"""project.sandbox: projects whose bot lives in the sandbox Telegram

Revision ID: sandbox_01
Revises: telegram_01
"""
import sqlalchemy as sa
from alembic import op

revision = "sandbox_01"
down_revision = "owner_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("sandbox")
