"""code lookup key in byte order on PostgreSQL

Prefix searches (LIKE 'K7QF%') can only use a btree index whose collation is "C".

Revision ID: b7e2c4d91f3a
Revises: a1c924cbb7b8
Create Date: 2026-11-26 04:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7e2c4d91f3a'
down_revision = 'a1c924cbb7b8'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "access_code",
            "lookup_key",
            type_=sa.String(64, collation="C"),
            existing_type=sa.String(64),
            existing_nullable=False,
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "access_code",
            "lookup_key",
            type_=sa.String(64),
            existing_type=sa.String(64, collation="C"),
            existing_nullable=False,
        )
