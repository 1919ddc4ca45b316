"""security hardening: owner log-in sessions, bot tokens encrypted at rest

The data step encrypts every plain-text bot token with the first of TOKEN_ENCRYPTION_KEYS and
keeps its SHA-256 for the uniqueness check; the downgrade decrypts them again.

Revision ID: security_01
Revises: languages_01
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "security_01"
down_revision = "outbox_01"
branch_labels = None
depends_on = None


project = sa.table(
    "project",
    sa.column("id", sa.Integer),
    sa.column("bot_token", sa.String),
    sa.column("bot_token_digest", sa.String),
)


def _crypto():
    from flask import current_app

    from webapp import token_crypto

    token_crypto.configure(current_app.config["TOKEN_ENCRYPTION_KEYS"])
    return token_crypto


def _encrypt_tokens():
    crypto = _crypto()
    conn = op.get_bind()
    rows = conn.execute(sa.select(project.c.id, project.c.bot_token)).all()
    for row_id, stored in rows:
        plain = crypto.decrypt(stored) if crypto.is_encrypted(stored) else stored
        conn.execute(
            project.update()
            .where(project.c.id == row_id)
            .values(
                bot_token=crypto.encrypt(plain),
                bot_token_digest=hashlib.sha256(plain.encode()).hexdigest(),
            )
        )


def _decrypt_tokens():
    crypto = _crypto()
    conn = op.get_bind()
    rows = conn.execute(sa.select(project.c.id, project.c.bot_token)).all()
    for row_id, stored in rows:
        if crypto.is_encrypted(stored):
            conn.execute(
                project.update()
                .where(project.c.id == row_id)
                .values(bot_token=crypto.decrypt(stored))
            )


def upgrade():
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bot_token_digest", sa.String(length=64), nullable=True))
        batch_op.alter_column(
            "bot_token",
            existing_type=sa.String(length=128),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
        batch_op.drop_constraint("uq_project_bot_token", type_="unique")
    _encrypt_tokens()
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.alter_column(
            "bot_token_digest", existing_type=sa.String(length=64), nullable=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_project_bot_token_digest"), ["bot_token_digest"]
        )

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
    with op.batch_alter_table("owner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_reset_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("password_reset_expires_at", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_owner_password_reset_hash"), ["password_reset_hash"]
        )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("pending_by_user_id", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("owner", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_owner_password_reset_hash"), type_="unique")
        batch_op.drop_column("password_reset_expires_at")
        batch_op.drop_column("password_reset_hash")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_column("pending_by_user_id")
        batch_op.drop_column("pending_since")
    _decrypt_tokens()
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_project_bot_token_digest"), type_="unique")
        batch_op.create_unique_constraint("uq_project_bot_token", ["bot_token"])
        batch_op.alter_column(
            "bot_token",
            existing_type=sa.String(length=255),
            type_=sa.String(length=128),
            existing_nullable=False,
        )
        batch_op.drop_column("bot_token_digest")
    with op.batch_alter_table("owner_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_session_owner_id"))
    op.drop_table("owner_session")
