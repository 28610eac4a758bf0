"""Migration 0012 fills the quota usage counters from the entries already stored
(R25), on SQLite and PostgreSQL: a folder's octets are its entries' RFC822.SIZE
sum (a content shared by two entries counted twice), its messages their count.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_migrations_roundtrip import (  # noqa: F401
    BAL_ROW,
    _alembic,
    database,
    migrate_with_rows,
)

ROWS = [
    BAL_ROW,
    *(f"INSERT INTO folder (id, bal_id, name, subscribed, uidvalidity, uidnext, "
      f"highestmodseq, recent_uid) VALUES ({i}, 1, '{name}', true, {i}, 9, 1, 0)"
      for i, name in ((1, "INBOX"), (2, "Sent"), (3, "Trash"))),
    *(f"INSERT INTO message_content (id, bal_id, key_version, size, body, received_at) "
      f"VALUES ('c{i}', 1, 1, {size}, :blob, CURRENT_TIMESTAMP)"
      for i, size in ((1, 1000), (2, 2500), (3, 70))),
    *(f"INSERT INTO mailbox_entry (folder_id, uid, content_id, flags, internaldate, modseq) "
      f"VALUES ({folder}, {uid}, '{cid}', '', CURRENT_TIMESTAMP, 1)"
      for folder, uid, cid in ((1, 1, "c1"), (1, 2, "c2"), (2, 1, "c1"), (2, 2, "c3"))),
]


async def test_0012_fills_the_counters_from_the_stored_entries(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:  # noqa: F811
    url, engine = database
    await migrate_with_rows(url, engine, tmp_path, "0009", ROWS)
    await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", "0012")
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT name, used_bytes, used_messages FROM folder ORDER BY id"))).all()
        bal = (await conn.execute(text(
            "SELECT quota_bytes, quota_messages, quota_warned FROM bal"))).one()
    assert [tuple(r) for r in rows] == [("INBOX", 3500, 2), ("Sent", 1070, 2), ("Trash", 0, 0)]
    assert tuple(bal) == (None, None, 0)
