"""scale-out: task keys and dead letters

Revision ID: 0015_scale
Revises: 0014_visits2
Create Date: 2026-12-06 00:00:00

The keys of work the Celery workers have done (a redelivered task records nothing twice)
and the tasks that failed for good. Two new tables, nothing else touched.
"""
from alembic import op
import sqlalchemy as sa

import core.db


# revision identifiers, used by Alembic.
revision = '0015_scale'
down_revision = '0014_visits2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scale_task_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('task', sa.String(length=80), nullable=False),
    sa.Column('done_at', core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scale_task_keys')),
    sa.UniqueConstraint('key', name=op.f('uq_scale_task_keys_key'))
    )
    op.create_index(op.f('ix_scale_task_keys_done_at'), 'scale_task_keys', ['done_at'], unique=False)
    op.create_table('scale_dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=120), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('args', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('failed_at', core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scale_dead_letters'))
    )
    op.create_index('ix_scale_dead_letters_failed_at', 'scale_dead_letters', ['failed_at'], unique=False)


def downgrade():
    op.drop_index('ix_scale_dead_letters_failed_at', table_name='scale_dead_letters')
    op.drop_table('scale_dead_letters')
    op.drop_index(op.f('ix_scale_task_keys_done_at'), table_name='scale_task_keys')
    op.drop_table('scale_task_keys')
