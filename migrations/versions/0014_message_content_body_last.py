"""`message_content.body` becomes the table's last column on SQLite, after `meta`.

SQLite stores a row's columns in their declared order, and a value that does not
fit in the row's page continues in a chain of overflow pages. `meta` (header,
ENVELOPE, BODYSTRUCTURE) was added by 0004 after `body`, so reading the meta of a
message larger than a page walked the body's whole overflow chain first: on a
listing of 50 messages of 1 MB each, 11.5 ms instead of 0.2 ms.
With `body` last, what FETCH ENVELOPE, BODYSTRUCTURE and the header items read lies
in the row's first pages, whatever the message's size.

The table is rebuilt (a copy of every stored message, then the old table dropped
and the copy renamed; the indexes made again). The copy and the zeroing of the old
table's pages both pass through the write-ahead log: while it runs the database's
files reach about four times the stored mail, then settle at twice, the old pages
free for reuse until a `VACUUM` (`bench/meta_read.py`). Foreign keys must be off while
the old table is dropped (SQLite would otherwise delete, through ON DELETE CASCADE,
the mailbox entries and outbound rows of every message): the migration's own
connection has them off, which is checked, and `PRAGMA foreign_key_check` must find
nothing afterwards. `secure_delete` is on for the rebuild, as for the server, so
the pages freed are zeroed.

PostgreSQL stores a large value out of line (TOAST): reading `meta` never reads a
body's chunks, whatever the column order, so nothing changes there.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BODY_LAST = ("id", "bal_id", "key_version", "size", "mss_nil", "received_at", "meta", "body")
BODY_FIRST = ("id", "bal_id", "key_version", "size", "body", "mss_nil", "received_at", "meta")
"""The order 0004 left (its `meta` added at the end), which `downgrade` restores."""


def _rebuild_in_order(order: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL: see the module docstring
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("foreign keys are on: dropping message_content would delete, "
                           "through ON DELETE CASCADE, every mailbox entry")
    bind.exec_driver_sql("PRAGMA secure_delete=ON")
    with op.batch_alter_table("message_content", recreate="always",
                              partial_reordering=[order]):
        pass
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")


def upgrade() -> None:
    _rebuild_in_order(BODY_LAST)


def downgrade() -> None:
    _rebuild_in_order(BODY_FIRST)
