"""Directory and publication outbox: imported Annuaire Santé versions, their search
posting lists (in segments), shared names, local published BALs (version 0) and their tokens, and the publication event outbox (R13, R14).

Existing active BALs that are not on liste rouge become published, with one
outbox event each (R13: published unless liste rouge).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TOKEN = sa.String(160).with_variant(sa.String(160, collation="C"), "postgresql")
def _versions() -> None:
    op.create_table(
        "directory_version",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        *(sa.Column(n, sa.Integer(), nullable=False)
          for n in ("lines", "imported", "merged", "rejected", "segments")),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_directory_version_state", "directory_version", ["state"])


def _entries() -> None:
    op.create_table(
        "directory_entry",
        sa.Column("version_id", ID, autoincrement=False, nullable=False),
        sa.Column("entry_no", ID, autoincrement=False, nullable=False),
        sa.Column("bal_type", sa.String(3), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("pp_id", sa.String(400), nullable=True),
        sa.Column("name_key", TOKEN, nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("bal_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["bal_id"], ["bal.id"], name="fk_directory_entry_bal",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "entry_no"),
    )
    op.create_index("ix_directory_entry_bal", "directory_entry", ["bal_id"],
                    sqlite_where=sa.text("bal_id IS NOT NULL"),
                    postgresql_where=sa.text("bal_id IS NOT NULL"))
    op.create_table(
        "directory_posting",
        sa.Column("version_id", ID, autoincrement=False, nullable=False),
        sa.Column("segment", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", TOKEN, nullable=False),
        sa.Column("postings", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "segment", "token"),
    )
    op.create_table(
        "directory_homonym",
        sa.Column("version_id", ID, autoincrement=False, nullable=False),
        sa.Column("name_key", TOKEN, nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "name_key"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "directory_local_token",
        sa.Column("token", TOKEN, nullable=False),
        sa.Column("bal_id", ID, nullable=False),
        sa.Column("field", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["bal_id"], ["bal.id"], name="fk_directory_local_token_bal",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token", "bal_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_directory_local_token_bal_id", "directory_local_token", ["bal_id"])


def _outbox() -> None:
    op.create_table(
        "publication_event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("bal_id", ID, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("bal_type", sa.String(3), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_publication_event_bal_id", "publication_event", ["bal_id"])
    op.create_index("ix_publication_event_sent_at", "publication_event", ["sent_at"])


def _publish_existing() -> None:
    """R13: existing active BALs not on liste rouge are published, with an event each."""
    op.execute(sa.text(
        "INSERT INTO publication_event (bal_id, address, bal_type, published, reason, "
        "created_at) SELECT id, address, bal_type, :yes, 'migration', CURRENT_TIMESTAMP "
        "FROM bal WHERE status = 'active' AND liste_rouge = :no AND published = :no")
        .bindparams(yes=True, no=False))
    op.execute(sa.text("UPDATE bal SET published = :yes WHERE status = 'active' AND "
                       "liste_rouge = :no AND published = :no").bindparams(yes=True, no=False))


def upgrade() -> None:
    _versions()
    _entries()
    _outbox()
    _publish_existing()


def downgrade() -> None:
    op.drop_index("ix_publication_event_sent_at", table_name="publication_event")
    op.drop_index("ix_publication_event_bal_id", table_name="publication_event")
    op.drop_table("publication_event")
    op.drop_index("ix_directory_local_token_bal_id", table_name="directory_local_token")
    op.drop_table("directory_local_token")
    op.drop_table("directory_homonym")
    op.drop_table("directory_posting")
    op.drop_index("ix_directory_entry_bal", table_name="directory_entry")
    op.drop_table("directory_entry")
    op.drop_index("ix_directory_version_state", table_name="directory_version")
    op.drop_table("directory_version")
