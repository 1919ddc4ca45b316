"""languages: customer language, project default language and time zone, owner language,
the owner's own texts

Revision ID: languages_01
Revises: sandbox_01
Create Date: 2026-12-01 13:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'languages_01'
down_revision = 'sandbox_01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('owner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_language', sa.String(length=8), server_default='en', nullable=False))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False))
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language_code', sa.String(length=35), nullable=True))
    op.create_table(
        'project_text',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('template', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_text_project_id_project')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_project_text')),
        sa.UniqueConstraint('project_id', 'language', 'key', name=op.f('uq_project_text_project_id_language_key')),
    )


def downgrade():
    op.drop_table('project_text')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('language_code')
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('default_language')
    with op.batch_alter_table('owner', schema=None) as batch_op:
        batch_op.drop_column('language')
