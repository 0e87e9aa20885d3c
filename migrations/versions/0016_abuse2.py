"""abuse2: report frequency, re-enrollment approval, grouped tickets, coalesced notifications

Revision ID: 0016_abuse2
Revises: 0015_scale
Create Date: 2026-12-06 00:10:00

- remote_agents: when the last fresh report arrived (the 429 rule), and a pending
  enrollment (when, and the facts the new machine gave) awaiting a person's approval;
- notifications and outbox_mail: what they are about (`group_key`), so news of one ticket
  within a few minutes updates one notification and one queued mail per recipient;
- ticket_alert_events: the alert's key, so an alert grouped into another alert's ticket
  finds that ticket again.

Columns are added in place (no batch rebuild: on SQLite that would copy and drop tables
that others reference, cascading deletes); none of them has a foreign key.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import core.db


# revision identifiers, used by Alembic.
revision = '0016_abuse2'
down_revision = '0015_scale'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.add_column('remote_agents', sa.Column('last_fresh_report_at', core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('remote_agents', sa.Column('pending_at', core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('remote_agents', sa.Column('pending_facts', _JSON, nullable=True))
    op.add_column('notifications', sa.Column('group_key', sa.String(length=60), nullable=True))
    op.create_index('ix_notifications_user_group', 'notifications', ['user_id', 'group_key'], unique=False)
    op.add_column('outbox_mail', sa.Column('group_key', sa.String(length=60), nullable=True))
    op.create_index('ix_outbox_mail_group', 'outbox_mail', ['to_address', 'group_key'], unique=False)
    op.add_column('ticket_alert_events', sa.Column('alert_key', sa.String(length=60), nullable=True))
    op.create_index(op.f('ix_ticket_alert_events_alert_key'), 'ticket_alert_events', ['alert_key'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_ticket_alert_events_alert_key'), table_name='ticket_alert_events')
    op.drop_index('ix_outbox_mail_group', table_name='outbox_mail')
    op.drop_index('ix_notifications_user_group', table_name='notifications')
    # SQLite (3.35+) drops a plain column in place; none of these carries a key or index.
    op.drop_column('ticket_alert_events', 'alert_key')
    op.drop_column('outbox_mail', 'group_key')
    op.drop_column('notifications', 'group_key')
    op.drop_column('remote_agents', 'pending_facts')
    op.drop_column('remote_agents', 'pending_at')
    op.drop_column('remote_agents', 'last_fresh_report_at')
