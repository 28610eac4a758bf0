"""Accounts: persons, grants on ORG BALs, app passwords, login failures; BAL metadata
and publication state (R10, R12, R13).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 19:29:10.561101
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failure',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=320), nullable=False),
    sa.Column('peer', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index('ix_login_failure_key', ['account', 'peer', 'at'], unique=False)
        batch_op.create_index('ix_login_failure_peer', ['peer', 'at'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('login', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('login')
    )
    op.create_table('app_password',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bal_id'], ['bal.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    with op.batch_alter_table('app_password', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_password_bal_id'), ['bal_id'], unique=False)

    op.create_table('bal_grant',
    sa.Column('bal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bal_id'], ['bal.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bal_id', 'person_id')
    )
    with op.batch_alter_table('bal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('service', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('responsible', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('published', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_bal_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key('fk_bal_person', 'person', ['person_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('bal', schema=None) as batch_op:
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint('fk_bal_person', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_bal_person_id'))
        batch_op.drop_column('person_id')
        batch_op.drop_column('published')
        batch_op.drop_column('responsible')
        batch_op.drop_column('service')
        batch_op.drop_column('description')

    op.drop_table('bal_grant')
    with op.batch_alter_table('app_password', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_password_bal_id'))

    op.drop_table('app_password')
    op.drop_table('person')
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_peer')
        batch_op.drop_index('ix_login_failure_key')

    op.drop_table('login_failure')
