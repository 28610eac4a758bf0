"""Index of folder entries by MODSEQ, so a session catches up with the changes
since its view (entries above its HIGHESTMODSEQ) without scanning the folder.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mailbox_entry_folder_modseq", "mailbox_entry", ["folder_id", "modseq"])


def downgrade() -> None:
    op.drop_index("ix_mailbox_entry_folder_modseq", table_name="mailbox_entry")
