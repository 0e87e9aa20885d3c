"""accounts and councils

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 21:04:24.086247

"""
from alembic import op
import sqlalchemy as sa

import core.db
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    bands = op.create_table('allowance_bands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('min_population', sa.Integer(), nullable=False),
    sa.Column('max_population', sa.Integer(), nullable=True),
    sa.Column('remote_minutes_month', sa.Integer(), nullable=False),
    sa.Column('onsite_default_minutes_month', sa.Integer(), nullable=False),
    sa.CheckConstraint('max_population IS NULL OR max_population >= min_population', name=op.f('ck_allowance_bands_max_after_min')),
    sa.CheckConstraint('min_population >= 0', name=op.f('ck_allowance_bands_min_not_negative')),
    sa.CheckConstraint('onsite_default_minutes_month BETWEEN 90 AND 1680', name=op.f('ck_allowance_bands_onsite_default_range')),
    sa.CheckConstraint('remote_minutes_month >= 0', name=op.f('ck_allowance_bands_remote_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allowance_bands')),
    sa.UniqueConstraint('min_population', name=op.f('uq_allowance_bands_min_population'))
    )
    op.create_table('councils',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('comarca', sa.String(length=80), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('population_year', sa.Integer(), nullable=True),
    sa.Column('area_km2', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('contact_phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(code) BETWEEN 2 AND 8', name=op.f('ck_councils_code_length')),
    sa.CheckConstraint('population >= 0', name=op.f('ck_councils_population_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_councils')),
    sa.UniqueConstraint('code', name=op.f('uq_councils_code')),
    sa.UniqueConstraint('slug', name=op.f('uq_councils_slug'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('preferred_language', sa.String(length=5), nullable=True),
    sa.Column('last_login_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('auth_version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(role = 'clerk' AND council_id IS NOT NULL) OR (role <> 'clerk' AND council_id IS NULL)", name=op.f('ck_users_council_iff_clerk')),
    sa.CheckConstraint("preferred_language IS NULL OR preferred_language IN ('ca', 'es', 'en')", name=op.f('ck_users_language_known')),
    sa.CheckConstraint("role IN ('admin', 'manager', 'technician', 'clerk')", name=op.f('ck_users_role_known')),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lowercase')),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_users_council_id_councils'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_council_id'), ['council_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('object_label', sa.String(length=200), nullable=False),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['council_id'], ['councils.id'], name=op.f('fk_audit_log_council_id_councils'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_council_id'), ['council_id'], unique=False)
        batch_op.create_index('ix_audit_log_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_log_object', ['object_type', 'object_id'], unique=False)

    # The contract's default bands, so a fresh installation can sign agreements at once.
    op.bulk_insert(bands, [
        {"min_population": 0, "max_population": 500, "remote_minutes_month": 90, "onsite_default_minutes_month": 180},
        {"min_population": 501, "max_population": 1000, "remote_minutes_month": 135, "onsite_default_minutes_month": 240},
        {"min_population": 1001, "max_population": 2000, "remote_minutes_month": 180, "onsite_default_minutes_month": 360},
        {"min_population": 2001, "max_population": None, "remote_minutes_month": 225, "onsite_default_minutes_month": 480},
    ])


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_object')
        batch_op.drop_index('ix_audit_log_created_at_id')
        batch_op.drop_index(batch_op.f('ix_audit_log_council_id'))

    op.drop_table('audit_log')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_council_id'))

    op.drop_table('users')
    op.drop_table('councils')
    op.drop_table('allowance_bands')
