"""visits: invitations, reminders, travel time

Revision ID: 0014_visits2
Revises: 0013_catalogue2
Create Date: 2026-12-06 00:00:00

The .ics each queued visit mail carries (`visit_mails`), the reminders already sent
(`visit_reminders`), when a visit was last booked or moved (`visits.changed_at`), and a
council's travel time from the office (`councils.travel_minutes`). Columns are added in place
(no batch rebuild of tables others reference: on SQLite a rebuild cascades deletes).
"""
from alembic import op
import sqlalchemy as sa

import core.db


# revision identifiers, used by Alembic.
revision = '0014_visits2'
down_revision = '0013_catalogue2'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('councils', sa.Column('travel_minutes', sa.Integer(), server_default='0', nullable=False))
    op.add_column('visits', sa.Column('changed_at', core.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table('visit_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_mail_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('ics', sa.Text(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outbox_mail_id'], ['outbox_mail.id'], name=op.f('fk_visit_mails_outbox_mail_id_outbox_mail'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_mails_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_mails')),
    sa.UniqueConstraint('outbox_mail_id', name=op.f('uq_visit_mails_outbox_mail_id'))
    )
    with op.batch_alter_table('visit_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_mails_visit_id'), ['visit_id'], unique=False)
    op.create_table('visit_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.Column('starts_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_reminders_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_reminders')),
    sa.UniqueConstraint('visit_id', 'hours', 'starts_at', name=op.f('uq_visit_reminders_visit_id_hours_starts_at'))
    )


def downgrade():
    op.drop_table('visit_reminders')
    with op.batch_alter_table('visit_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_mails_visit_id'))
    op.drop_table('visit_mails')
    if op.get_bind().dialect.name == "sqlite":
        # SQLite (3.35+) drops a plain column in place; a batch rebuild of `visits` or
        # `councils` would cascade deletes.
        op.execute("ALTER TABLE visits DROP COLUMN changed_at")
        op.execute("ALTER TABLE councils DROP COLUMN travel_minutes")
    else:
        op.drop_column('visits', 'changed_at')
        op.drop_column('councils', 'travel_minutes')
