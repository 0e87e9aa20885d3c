"""agreements and hours: agreements, month closes, time entries and usage alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:16:12.688518

"""
from alembic import op
import sqlalchemy as sa

import core.db
from sqlalchemy import Text  # noqa: F401  (autogenerate writes Text() for JSONB)


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agreements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('onsite_minutes_month', sa.Integer(), nullable=False),
    sa.Column('remote_minutes_month', sa.Integer(), nullable=False),
    sa.Column('rollover', sa.String(length=16), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=True),
    sa.Column('document_ref', sa.String(length=120), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('previous_agreement_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("rollover IN ('none', 'next_month')", name=op.f('ck_agreements_rollover_known')),
    sa.CheckConstraint('onsite_minutes_month BETWEEN 90 AND 1680', name=op.f('ck_agreements_onsite_range')),
    sa.CheckConstraint('remote_minutes_month >= 0', name=op.f('ck_agreements_remote_not_negative')),
    sa.CheckConstraint('starts_on <= ends_on', name=op.f('ck_agreements_period_ordered')),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_agreements_council_id_councils'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['previous_agreement_id'], ['agreements.id'], name=op.f('fk_agreements_previous_agreement_id_agreements'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreements'))
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreements_council_id'), ['council_id'], unique=False)
        batch_op.create_index('ix_agreements_council_period', ['council_id', 'starts_on', 'ends_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreements_previous_agreement_id'), ['previous_agreement_id'], unique=False)

    op.create_table('usage_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('used_minutes', sa.Integer(), nullable=False),
    sa.Column('allowance_minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("mode IN ('onsite', 'remote')", name=op.f('ck_usage_alerts_mode_known')),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_usage_alerts_council_id_councils'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_alerts')),
    sa.UniqueConstraint('council_id', 'month', 'mode', 'threshold', name=op.f('uq_usage_alerts_council_id_month_mode_threshold'))
    )
    with op.batch_alter_table('usage_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_alerts_council_id'), ['council_id'], unique=False)

    op.create_table('month_closes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_month_closes_closed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_month_closes_council_id_councils'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_month_closes')),
    sa.UniqueConstraint('council_id', 'month', name=op.f('uq_month_closes_council_id_month'))
    )
    with op.batch_alter_table('month_closes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_month_closes_council_id'), ['council_id'], unique=False)

    op.create_table('time_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('travel_minutes', sa.Integer(), nullable=False),
    sa.Column('corrects_entry_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("mode = 'onsite' OR travel_minutes = 0", name=op.f('ck_time_entries_travel_onsite_only')),
    sa.CheckConstraint("mode IN ('onsite', 'remote')", name=op.f('ck_time_entries_mode_known')),
    sa.CheckConstraint('corrects_entry_id IS NOT NULL OR (minutes >= 1 AND travel_minutes >= 0)', name=op.f('ck_time_entries_entry_positive')),
    sa.CheckConstraint('minutes BETWEEN -1440 AND 1440', name=op.f('ck_time_entries_minutes_range')),
    sa.CheckConstraint('travel_minutes BETWEEN -1440 AND 1440', name=op.f('ck_time_entries_travel_range')),
    sa.ForeignKeyConstraint(['corrects_entry_id'], ['time_entries.id'], name=op.f('fk_time_entries_corrects_entry_id_time_entries')),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_time_entries_council_id_councils'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_time_entries_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['technician_id'], ['users.id'], name=op.f('fk_time_entries_technician_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_entries'))
    )
    with op.batch_alter_table('time_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_entries_corrects_entry_id'), ['corrects_entry_id'], unique=False)
        batch_op.create_index('ix_time_entries_council_date', ['council_id', 'date', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_time_entries_council_id'), ['council_id'], unique=False)
        batch_op.create_index('ix_time_entries_month_usage', ['month', 'council_id', 'mode', 'minutes', 'travel_minutes'], unique=False)
        batch_op.create_index('ix_time_entries_technician_date', ['technician_id', 'date', 'id'], unique=False)
        batch_op.create_index('ix_time_entries_usage', ['council_id', 'month', 'mode', 'minutes', 'travel_minutes'], unique=False)



def downgrade():
    with op.batch_alter_table('time_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_time_entries_usage')
        batch_op.drop_index('ix_time_entries_technician_date')
        batch_op.drop_index('ix_time_entries_month_usage')
        batch_op.drop_index(batch_op.f('ix_time_entries_council_id'))
        batch_op.drop_index('ix_time_entries_council_date')
        batch_op.drop_index(batch_op.f('ix_time_entries_corrects_entry_id'))

    op.drop_table('time_entries')
    with op.batch_alter_table('month_closes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_month_closes_council_id'))

    op.drop_table('month_closes')
    with op.batch_alter_table('usage_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_alerts_council_id'))

    op.drop_table('usage_alerts')
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreements_previous_agreement_id'))
        batch_op.drop_index('ix_agreements_council_period')
        batch_op.drop_index(batch_op.f('ix_agreements_council_id'))

    op.drop_table('agreements')
