"""resources: join-request mode, declining strangers, last reconcile

Revision ID: telegram_01
Revises: ccedd5ac0aec
Create Date: 2026-12-01 14:05:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "telegram_01"
down_revision = "ccedd5ac0aec"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("join_by_request", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("decline_strangers", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("reconciled_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_column("reconciled_at")
        batch_op.drop_column("decline_strangers")
        batch_op.drop_column("join_by_request")
