"""inventory: assets and expiry reminders

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:22:06.562773

"""
from alembic import op
import sqlalchemy as sa

import core.db
from sqlalchemy import Text  # noqa: F401  (autogenerate writes Text() for JSONB)


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('manufacturer', sa.String(length=120), nullable=False),
    sa.Column('model', sa.String(length=120), nullable=False),
    sa.Column('serial', sa.String(length=120), nullable=False),
    sa.Column('hostname', sa.String(length=253), nullable=False),
    sa.Column('ip_address', sa.String(length=45), nullable=False),
    sa.Column('os', sa.String(length=120), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('assigned_to', sa.String(length=120), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('issuer', sa.String(length=120), nullable=False),
    sa.Column('media', sa.String(length=16), nullable=True),
    sa.Column('seats', sa.Integer(), nullable=True),
    sa.Column('purchased_on', sa.Date(), nullable=True),
    sa.Column('warranty_until', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('last_seen_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('desktop', 'laptop', 'server', 'printer', 'network', 'mobile', 'certificate', 'license', 'domain', 'other')", name=op.f('ck_assets_kind_known')),
    sa.CheckConstraint("media IS NULL OR media IN ('software', 'card', 'usb_token', 'cloud')", name=op.f('ck_assets_media_known')),
    sa.CheckConstraint("status IN ('in_use', 'stock', 'repair', 'retired')", name=op.f('ck_assets_status_known')),
    sa.CheckConstraint('seats IS NULL OR seats >= 0', name=op.f('ck_assets_seats_not_negative')),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_assets_council_id_councils'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assets')),
    sa.UniqueConstraint('council_id', 'tag', name=op.f('uq_assets_council_id_tag'))
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assets_council_id'), ['council_id'], unique=False)
        batch_op.create_index('ix_assets_council_kind', ['council_id', 'kind'], unique=False)
        batch_op.create_index('ix_assets_expires_on', ['expires_on'], unique=False)
        batch_op.create_index('ix_assets_warranty_until', ['warranty_until'], unique=False)

    op.create_table('asset_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('due_field', sa.String(length=20), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('sent_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("due_field IN ('expires_on', 'warranty_until')", name=op.f('ck_asset_reminders_due_field_known')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_reminders_asset_id_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_asset_reminders_council_id_councils'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_reminders')),
    sa.UniqueConstraint('asset_id', 'due_field', 'due_date', 'threshold', name=op.f('uq_asset_reminders_asset_id_due_field_due_date_threshold'))
    )
    with op.batch_alter_table('asset_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_reminders_council_id'), ['council_id'], unique=False)



def downgrade():
    with op.batch_alter_table('asset_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_reminders_council_id'))

    op.drop_table('asset_reminders')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_warranty_until')
        batch_op.drop_index('ix_assets_expires_on')
        batch_op.drop_index('ix_assets_council_kind')
        batch_op.drop_index(batch_op.f('ix_assets_council_id'))

    op.drop_table('assets')
