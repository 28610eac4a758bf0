"""Initial schema: BALs, data keys, folders, encrypted contents, audit, queue, trust list.

The audit table is append-only: triggers refuse UPDATE and DELETE (R24).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 19:14:02.081706
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('protocol', sa.String(length=16), nullable=False),
    sa.Column('session', sa.String(length=32), nullable=False),
    sa.Column('peer', sa.String(length=64), nullable=False),
    sa.Column('bal', sa.String(length=320), nullable=False),
    sa.Column('person', sa.String(length=320), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_bal'), ['bal'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event'), ['event'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_ts'), ['ts'], unique=False)

    op.create_table('bal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('bal_type', sa.String(length=3), nullable=False),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('structure_id', sa.String(length=64), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('liste_rouge', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address')
    )
    op.create_table('trustlist_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('domains', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_table('bal_key',
    sa.Column('bal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kek_id', sa.String(length=32), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bal_id'], ['bal.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bal_id', 'version')
    )
    op.create_table('folder',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('special_use', sa.String(length=16), nullable=True),
    sa.Column('subscribed', sa.Boolean(), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uidnext', sa.BigInteger(), nullable=False),
    sa.Column('highestmodseq', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['bal_id'], ['bal.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('bal_id', 'name')
    )
    with op.batch_alter_table('folder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_folder_bal_id'), ['bal_id'], unique=False)

    op.create_table('message_content',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('bal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('mss_nil', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bal_id'], ['bal.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message_content', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_content_bal_id'), ['bal_id'], unique=False)

    op.create_table('mailbox_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('folder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('content_id', sa.String(length=32), nullable=False),
    sa.Column('flags', sa.Text(), nullable=False),
    sa.Column('internaldate', sa.DateTime(timezone=True), nullable=False),
    sa.Column('modseq', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['message_content.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['folder_id'], ['folder.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('folder_id', 'uid')
    )
    with op.batch_alter_table('mailbox_entry', schema=None) as batch_op:
        batch_op.create_index('ix_mailbox_entry_content', ['content_id'], unique=False)

    op.create_table('outbound_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('content_id', sa.String(length=32), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('mail_from', sa.String(length=320), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['content_id'], ['message_content.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbound_queue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_queue_domain'), ['domain'], unique=False)


    _audit_append_only()


def downgrade() -> None:
    _drop_audit_append_only()
    with op.batch_alter_table('outbound_queue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_queue_domain'))

    op.drop_table('outbound_queue')
    with op.batch_alter_table('mailbox_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_mailbox_entry_content')

    op.drop_table('mailbox_entry')
    with op.batch_alter_table('message_content', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_content_bal_id'))

    op.drop_table('message_content')
    with op.batch_alter_table('folder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_folder_bal_id'))

    op.drop_table('folder')
    op.drop_table('bal_key')
    op.drop_table('trustlist_version')
    op.drop_table('bal')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_ts'))
        batch_op.drop_index(batch_op.f('ix_audit_event'))
        batch_op.drop_index(batch_op.f('ix_audit_bal'))

    op.drop_table('audit')


SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
)
PG_TRIGGERS = (
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$",
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
)


def _audit_append_only() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in SQLITE_TRIGGERS if dialect == "sqlite" else PG_TRIGGERS:
        op.execute(stmt)


def _drop_audit_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_no_change ON audit")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
