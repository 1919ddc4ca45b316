"""security hardening: owner log-in sessions

Revision ID: security_01
Revises: ccedd5ac0aec
"""

import sqlalchemy as sa
from alembic import op

revision = "security_01"
down_revision = "ccedd5ac0aec"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "owner_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owner.id"], name=op.f("fk_owner_session_owner_id_owner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_owner_session_token_hash")),
    )
    with op.batch_alter_table("owner_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_owner_session_owner_id"), ["owner_id"], unique=False)


def downgrade():
    with op.batch_alter_table("owner_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_session_owner_id"))
    op.drop_table("owner_session")
