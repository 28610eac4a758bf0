"""A BAL's password epoch: moved by every password change, so a server process
can tell, with one cheap read, that the password a session logged in with is
no longer the BAL's (and end that session).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bal") as batch:
        batch.add_column(sa.Column("password_epoch", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("bal") as batch:
        batch.drop_column("password_epoch")
