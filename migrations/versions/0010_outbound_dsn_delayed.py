"""The recipients of each outbound queue row already sent a delay report (RFC 3461 4.1,
NOTIFY=DELAY: one delay report per recipient, R22), newline-separated.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_queue") as batch:
        batch.add_column(sa.Column("dsn_delayed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_queue") as batch:
        batch.drop_column("dsn_delayed")
