"""Migration 0014 puts `message_content.body` last on SQLite and loses nothing.

On SQLite the table is rebuilt: every row keeps every value, the mailbox entries
and outbound rows that reference the messages are all still there and their
foreign keys still hold (ON DELETE CASCADE included), and `body` is the last
column. A connection with foreign keys on is refused before anything is dropped
(dropping the table would then delete every entry). On PostgreSQL nothing moves and
nothing is lost.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_migrations_roundtrip import (  # noqa: F401
    BAL_ROW,
    _alembic,
    database,
)

BIG = os.urandom(300_000)  # far more than a page: the body continues in overflow pages
CONTENTS = [("c1", BIG, b"sealed-meta-1"), ("c2", b"small body", b"sealed-meta-2"),
            ("c3", os.urandom(9000), None)]  # c3: stored before metas existed
FOLDER = ("INSERT INTO folder (id, bal_id, name, subscribed, uidvalidity, uidnext, "
          "highestmodseq, recent_uid) VALUES (1, 1, 'INBOX', true, 1, 9, 1, 0)")
CONTENT = ("INSERT INTO message_content (id, bal_id, key_version, size, body, mss_nil, "
           "received_at, meta) VALUES (:id, 1, 1, :size, :body, :nil, CURRENT_TIMESTAMP, :meta)")
ENTRY = ("INSERT INTO mailbox_entry (folder_id, uid, content_id, flags, internaldate, modseq) "
         "VALUES (1, :uid, :cid, '\\Seen', CURRENT_TIMESTAMP, 1)")
QUEUED = ("INSERT INTO outbound_queue (content_id, domain, mail_from, recipients, created_at, "
          "next_attempt_at, attempts) VALUES ('c2', 'ailleurs.mssante.fr', 'a@op.mssante.fr', "
          "'[\"b@ailleurs.mssante.fr\"]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)")
SNAPSHOT = ("SELECT id, bal_id, key_version, size, body, mss_nil, received_at, meta "
            "FROM message_content ORDER BY id")


async def _fill(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(BAL_ROW))
        await conn.execute(text(FOLDER))
        for n, (cid, body, meta) in enumerate(CONTENTS, start=1):
            await conn.execute(text(CONTENT), {"id": cid, "size": len(body), "body": body,
                                               "nil": f"nil-{n}", "meta": meta})
            await conn.execute(text(ENTRY), {"uid": n, "cid": cid})
        await conn.execute(text(QUEUED))


async def _state(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {
            "contents": [tuple(r) for r in (await conn.execute(text(SNAPSHOT))).all()],
            "entries": [tuple(r) for r in (await conn.execute(text(
                "SELECT uid, content_id, flags FROM mailbox_entry ORDER BY uid"))).all()],
            "queued": (await conn.execute(text(
                "SELECT content_id FROM outbound_queue"))).scalars().all(),
        }


async def _columns(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(text("PRAGMA table_info(message_content)"))
            return [r[1] for r in rows]
        rows = await conn.execute(text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'message_content' ORDER BY ordinal_position"))
        return list(rows.scalars())


async def test_0014_keeps_every_message_and_puts_body_last(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:  # noqa: F811
    url, engine = database
    await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", "0013")
    await _fill(engine)
    before = await _state(engine)
    assert before["contents"][0][4] == BIG and len(before["entries"]) == 3
    columns_before = await _columns(engine)
    assert columns_before[-1] == "meta"  # where 0004 added it

    await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", "0014")

    assert await _state(engine) == before
    columns = await _columns(engine)
    if engine.dialect.name == "sqlite":
        assert columns == ["id", "bal_id", "key_version", "size", "mss_nil", "received_at",
                           "meta", "body"]
    else:
        assert columns == columns_before  # PostgreSQL: nothing rebuilt (TOAST)
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            assert (await conn.execute(text("PRAGMA foreign_key_check"))).all() == []
            await conn.execute(text("PRAGMA foreign_keys=ON"))
        # The references still lead to the table: deleting a message deletes its
        # entry and its queued delivery (ON DELETE CASCADE).
        await conn.execute(text("DELETE FROM message_content WHERE id = 'c2'"))
        assert (await conn.execute(text(
            "SELECT content_id FROM mailbox_entry ORDER BY uid"))).scalars().all() == ["c1", "c3"]
        assert (await conn.execute(text("SELECT count(*) FROM outbound_queue"))).scalar() == 0

    await asyncio.to_thread(_alembic, url, tmp_path, "downgrade", "0013")
    assert await _columns(engine) == columns_before
    after_down = await _state(engine)
    assert after_down["contents"] == [before["contents"][0], before["contents"][2]]


def test_0014_refuses_a_connection_with_foreign_keys_on(tmp_path: Path) -> None:
    """Dropping the old table with foreign keys on would delete every entry through
    ON DELETE CASCADE: the migration stops first and the rows are all there."""
    url = f"sqlite:///{tmp_path / 'fk.sqlite3'}"
    _alembic(url, tmp_path, "upgrade", "0013")
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _fk_on(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    migration = importlib.import_module("migrations.versions.0014_message_content_body_last")
    with engine.begin() as conn:
        conn.execute(text(BAL_ROW))
        conn.execute(text(FOLDER))
        conn.execute(text(CONTENT), {"id": "c1", "size": 4, "body": b"body", "nil": None,
                                     "meta": None})
        conn.execute(text(ENTRY), {"uid": 1, "cid": "c1"})
    with engine.begin() as conn:
        context = MigrationContext.configure(conn, opts={"render_as_batch": True})
        with Operations.context(context), pytest.raises(RuntimeError, match="foreign keys"):
            migration.upgrade()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mailbox_entry")).scalar() == 1
        columns = [r[1] for r in conn.execute(text("PRAGMA table_info(message_content)"))]
        assert columns[-1] == "meta"
    engine.dispose()
