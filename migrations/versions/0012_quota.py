"""Per-BAL quotas (R25): limits on the BAL, usage counters on its folders.

`bal.quota_bytes` and `bal.quota_messages` are the BAL's own limits (NULL: the
`[quota]` defaults of the configuration; 0: none); `bal.quota_warned` is the
highest near-quota notice level already sent (0, 80 or 95), so `quota-warn`
sends each notice once per crossing. `folder.used_bytes` (the sum of the
RFC822.SIZE of its entries) and `folder.used_messages` (its entry count) are
kept by every write in the write's own transaction; they are filled here from
the entries already stored.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bal") as batch:
        batch.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("quota_messages", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("quota_warned", sa.Integer(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("folder") as batch:
        batch.add_column(sa.Column("used_bytes", sa.BigInteger(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("used_messages", sa.BigInteger(), nullable=False,
                                   server_default="0"))
    op.execute(
        "UPDATE folder SET "
        "used_bytes = (SELECT COALESCE(SUM(c.size), 0) FROM mailbox_entry e "
        "JOIN message_content c ON c.id = e.content_id WHERE e.folder_id = folder.id), "
        "used_messages = (SELECT COUNT(*) FROM mailbox_entry e WHERE e.folder_id = folder.id)")


def downgrade() -> None:
    with op.batch_alter_table("folder") as batch:
        batch.drop_column("used_messages")
        batch.drop_column("used_bytes")
    with op.batch_alter_table("bal") as batch:
        batch.drop_column("quota_warned")
        batch.drop_column("quota_messages")
        batch.drop_column("quota_bytes")
