"""The DSN parameters of each outbound queue row (RFC 3461), to pass on to the next server:
RET, ENVID as the client wrote it, and NOTIFY/ORCPT per recipient.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_queue") as batch:
        batch.add_column(sa.Column("dsn_ret", sa.String(4), nullable=True))
        batch.add_column(sa.Column("dsn_envid", sa.String(100), nullable=True))
        batch.add_column(sa.Column("dsn_recipients", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_queue") as batch:
        batch.drop_column("dsn_recipients")
        batch.drop_column("dsn_envid")
        batch.drop_column("dsn_ret")
