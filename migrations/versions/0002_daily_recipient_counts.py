"""Daily distinct-recipient counts per BAL (R18 budget), addresses as SHA-256.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 19:23:54.142301
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sent_recipient',
    sa.Column('bal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('rcpt_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['bal_id'], ['bal.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bal_id', 'day', 'rcpt_hash')
    )


def downgrade() -> None:
    op.drop_table('sent_recipient')
