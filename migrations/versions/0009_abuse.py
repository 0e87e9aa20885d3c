"""abuse: notifications and queued mail know their council

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 18:45:00

A clerk moved to another council must stop reading the old council's notifications and
must not receive its queued mail: both rows now name the council they speak of (null for
news about no council, and for every row written before this revision).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('notifications', 'outbox_mail'):
        if op.get_bind().dialect.name == "sqlite":
            # SQLite takes a foreign key inline on a new nullable column; a batch rebuild would
            # drop and copy the table, and dropping outbox_mail with foreign keys on clears the
            # report deliveries' links to their mails.
            op.execute(f"ALTER TABLE {table} ADD COLUMN council_id INTEGER CONSTRAINT "
                       f"fk_{table}_council_id_councils REFERENCES councils (id) ON DELETE SET NULL")
            op.create_index(op.f(f'ix_{table}_council_id'), table, ['council_id'], unique=False)
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('council_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_council_id'), ['council_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_council_id_councils'), 'councils', ['council_id'],
                                        ['id'], ondelete='SET NULL')


def downgrade():
    for table in ('outbox_mail', 'notifications'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if op.get_bind().dialect.name != "sqlite":  # SQLite's inline key goes with its column
                batch_op.drop_constraint(batch_op.f(f'fk_{table}_council_id_councils'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_council_id'))
            batch_op.drop_column('council_id')
