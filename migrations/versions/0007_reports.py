"""reports: the archive of generated reports, monthly deliveries, transparency opt-in

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 00:08:32.599400

"""
from alembic import op
import sqlalchemy as sa

import core.db


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('archives', sa.Integer(), nullable=False),
    sa.Column('mails', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_deliveries')),
    sa.UniqueConstraint('period_start', name=op.f('uq_report_deliveries_period_start'))
    )
    op.create_table('report_archives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('storage_name', sa.String(length=80), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('generated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('generated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(kind = 'office_month') = (council_id IS NULL)", name=op.f('ck_report_archives_council_matches_kind')),
    sa.CheckConstraint("format IN ('pdf', 'xlsx', 'csv')", name=op.f('ck_report_archives_format_known')),
    sa.CheckConstraint("kind IN ('council_month', 'office_month')", name=op.f('ck_report_archives_kind_known')),
    sa.CheckConstraint('period_start <= period_end', name=op.f('ck_report_archives_period_ordered')),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_report_archives_council_id_councils'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['generated_by_id'], ['users.id'], name=op.f('fk_report_archives_generated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_archives')),
    sa.UniqueConstraint('key', name=op.f('uq_report_archives_key')),
    sa.UniqueConstraint('storage_name', name=op.f('uq_report_archives_storage_name'))
    )
    with op.batch_alter_table('report_archives', schema=None) as batch_op:
        batch_op.create_index('ix_report_archives_council_period', ['council_id', 'period_start', 'id'], unique=False)
        batch_op.create_index('ix_report_archives_period', ['period_start', 'id'], unique=False)

    op.create_table('report_publications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['users.id'], name=op.f('fk_report_publications_changed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_report_publications_council_id_councils'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_publications')),
    sa.UniqueConstraint('council_id', name=op.f('uq_report_publications_council_id'))
    )
    op.create_table('report_delivery_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=40), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('outbox_mail_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['report_archives.id'], name=op.f('fk_report_delivery_mails_archive_id_report_archives'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['delivery_id'], ['report_deliveries.id'], name=op.f('fk_report_delivery_mails_delivery_id_report_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_mail_id'], ['outbox_mail.id'], name=op.f('fk_report_delivery_mails_outbox_mail_id_outbox_mail'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_delivery_mails')),
    sa.UniqueConstraint('delivery_id', 'recipient', name=op.f('uq_report_delivery_mails_delivery_id_recipient')),
    sa.UniqueConstraint('outbox_mail_id', name=op.f('uq_report_delivery_mails_outbox_mail_id'))
    )
    with op.batch_alter_table('report_delivery_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_delivery_mails_archive_id'), ['archive_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_delivery_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_delivery_mails_archive_id'))

    op.drop_table('report_delivery_mails')
    op.drop_table('report_publications')
    with op.batch_alter_table('report_archives', schema=None) as batch_op:
        batch_op.drop_index('ix_report_archives_period')
        batch_op.drop_index('ix_report_archives_council_period')

    op.drop_table('report_archives')
    op.drop_table('report_deliveries')
