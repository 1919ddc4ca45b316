"""outbox of promised messages (confirmations, owner notices, join links)

Revision ID: outbox_01
Revises: languages_01
"""
import sqlalchemy as sa
from alembic import op

revision = "outbox_01"
down_revision = "languages_01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_outbox_message_customer_id_customer")),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"], name=op.f("fk_outbox_message_plan_id_plan")),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], name=op.f("fk_outbox_message_project_id_project")),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"], name=op.f("fk_outbox_message_subscription_id_subscription")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_due", ["next_attempt_at"], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index("ix_outbox_message_project_status", ["project_id", "status", "created_at"], unique=False)
        batch_op.create_index("ix_outbox_message_subscription", ["subscription_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_customer_id"), ["customer_id"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_customer_id"))
        batch_op.drop_index("ix_outbox_message_subscription")
        batch_op.drop_index("ix_outbox_message_project_status")
        batch_op.drop_index("ix_outbox_message_due", postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.drop_table("outbox_message")
