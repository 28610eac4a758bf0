"""IMAP engine storage: stored message meta, \\Recent, subscriptions, UIDVALIDITY floor.

- `message_content.meta`: header, ENVELOPE and BODYSTRUCTURE computed once at
  delivery or APPEND, AES-256-GCM sealed like the body (NULL for older rows:
  computed from the message when first fetched).
- `folder.recent_uid`: UIDs above it are \\Recent for the next session.
- `folder_subscription`: subscribed names without a folder (RFC 3501 6.3.6).
- `folder_counter`: the highest UIDVALIDITY a BAL gave out (RFC 3501 2.3.1.1).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("message_content", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meta", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("folder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recent_uid", sa.BigInteger(), nullable=False,
                                      server_default="0"))
    op.execute("UPDATE folder SET recent_uid = uidnext - 1")
    op.create_table(
        "folder_subscription",
        sa.Column("bal_id", ID, nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["bal_id"], ["bal.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bal_id", "name"),
    )
    op.create_table(
        "folder_counter",
        sa.Column("bal_id", ID, nullable=False),
        sa.Column("last_uidvalidity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["bal_id"], ["bal.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bal_id"),
    )


def downgrade() -> None:
    op.drop_table("folder_counter")
    op.drop_table("folder_subscription")
    with op.batch_alter_table("folder", schema=None) as batch_op:
        batch_op.drop_column("recent_uid")
    with op.batch_alter_table("message_content", schema=None) as batch_op:
        batch_op.drop_column("meta")
