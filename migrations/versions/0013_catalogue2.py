"""catalogue evidence files

Revision ID: 0013_catalogue2
Revises: 0012
Create Date: 2026-12-06 00:00:00

What the office keeps about a council's evidence file for a service (catalogue.evidence):
its type as decided from its bytes, its size, its digest and when it came. Plain nullable
columns, added in place on both databases (no batch rebuild of council_services, which the
status history references).
"""
import sqlalchemy as sa
from alembic import op

import core.db

# revision identifiers, used by Alembic.
revision = '0013_catalogue2'
down_revision = '0012'
branch_labels = None
depends_on = None

COLUMNS = (
    ('evidence_content_type', sa.String(length=100)),
    ('evidence_size', sa.Integer()),
    ('evidence_sha256', sa.String(length=64)),
    ('evidence_uploaded_at', core.db.UTCDateTime(timezone=True)),
)


def upgrade():
    for name, type_ in COLUMNS:
        op.add_column('council_services', sa.Column(name, type_, nullable=True))


def downgrade():
    # SQLite (3.35+) drops a plain column in place too: no table rebuild.
    for name, _type in reversed(COLUMNS):
        op.drop_column('council_services', name)
