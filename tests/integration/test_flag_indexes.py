"""EXPUNGE and STATUS read only the entries they count (RFC 3501 6.3.10, 6.4.3; RFC
9208 DELETED): the partial indexes of `mailbox_entry` over `\\Deleted` entries and
entries without `\\Seen` exist after migration 0013, on SQLite and PostgreSQL, and the
store's own queries are planned through them (the plan is read with the database's
EXPLAIN; on PostgreSQL with sequential scans disabled, as its planner prefers them on a
table this small).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imap_store.store import mailbox_sql
from tests.integration.test_migrations_roundtrip import (  # noqa: F401
    BAL_ROW,
    _alembic,
    database,
    migrate_with_rows,
)

ROWS = [
    BAL_ROW,
    "INSERT INTO folder (id, bal_id, name, subscribed, uidvalidity, uidnext, highestmodseq, "
    "recent_uid) VALUES (1, 1, 'INBOX', true, 1, 9, 1, 0)",
    "INSERT INTO message_content (id, bal_id, key_version, size, body, received_at) "
    "VALUES ('c1', 1, 1, 10, :blob, CURRENT_TIMESTAMP)",
    *(f"INSERT INTO mailbox_entry (folder_id, uid, content_id, flags, internaldate, modseq) "
      f"VALUES (1, {uid}, 'c1', '{flags}', CURRENT_TIMESTAMP, 1)"
      for uid, flags in ((1, ""), (2, "\\Seen"), (3, "\\Deleted \\Seen"), (4, "\\Deleted"),
                         (5, "Deleted NotSeen"))),
]


def _literal(sql: str, second: str = "0") -> str:
    """The store's statement with its parameters written in: `$1` 1 (the folder, or the
    BAL of STATUS), `$2` `second` (a BAL id, or STATUS's folder name)."""
    return re.sub(r"\$(\d)", lambda m: {"1": "1", "2": second}[m.group(1)], sql)


async def _plan(engine: AsyncEngine, sql: str) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = (await conn.execute(text("EXPLAIN QUERY PLAN " + _literal(sql)))).all()
            return "\n".join(str(r[-1]) for r in rows)
        await conn.execute(text("SET enable_seqscan = off"))
        rows = (await conn.execute(text("EXPLAIN " + _literal(sql)))).all()
        return "\n".join(str(r[0]) for r in rows)


async def test_expunge_and_status_are_planned_through_the_partial_indexes(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:  # noqa: F811
    url, engine = database
    await migrate_with_rows(url, engine, tmp_path, "head", ROWS)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE mailbox_entry"))

    # EXPUNGE's statement: the folder (id 1 of BAL 1) with its entries mentioning \Deleted
    doomed_sql = _literal(mailbox_sql.folder_with_sql(mailbox_sql._DOOMED_COLUMNS,
                                                      mailbox_sql.DOOMED_ON), "1")
    assert "ix_mailbox_entry_deleted" in await _plan(engine, doomed_sql)
    assert "ix_mailbox_entry_deleted" in await _plan(engine, mailbox_sql._ANY_DOOMED)
    status_sql = _literal(mailbox_sql.STATUS_ROW, "'INBOX'")  # BAL 1's INBOX
    status_plan = await _plan(engine, status_sql)
    assert "ix_mailbox_entry_deleted" in status_plan
    assert "ix_mailbox_entry_unseen" in status_plan

    width = len(mailbox_sql.FOLDER_COLUMNS.split(", "))
    async with engine.connect() as conn:
        counts = (await conn.execute(text(status_sql))).one()[width:]
        doomed = (await conn.execute(text(doomed_sql))).all()
    # RECENT (above floor 0), UNSEEN (no \Seen), DELETED (\Deleted) and the size of the
    # deleted (two entries of 10 octets): the keywords "Deleted" and "NotSeen" are not
    # the system flags.
    assert tuple(int(v) for v in counts) == (5, 3, 2, 20)
    assert sorted(int(r[width + 1]) for r in doomed) == [3, 4]


async def test_changes_since_a_modseq_are_read_through_the_modseq_index(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:  # noqa: F811
    """The refresh's read (the folder and its entries above a MODSEQ, one statement):
    through `ix_mailbox_entry_folder_modseq`, never a walk of the folder by UID (an
    ORDER BY uid in that statement made SQLite choose the UID index)."""
    url, engine = database
    await migrate_with_rows(url, engine, tmp_path, "head", ROWS)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE mailbox_entry"))
    changes = mailbox_sql.folder_with_sql(mailbox_sql._ENTRY_COLUMNS, "e.modseq > $3")
    plan = await _plan(engine, changes.replace("$3", "1"))
    assert "ix_mailbox_entry_folder_modseq" in plan, plan


async def test_expunge_with_nothing_deleted_is_known_from_one_read(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:  # noqa: F811
    """EXPUNGE's pre-check (`_ANY_DOOMED`): some entry may be doomed while one holds
    `\\Deleted`, none once they are all gone; another BAL's id finds no folder."""
    url, engine = database
    await migrate_with_rows(url, engine, tmp_path, "head", ROWS)

    async def any_doomed(bal: str) -> list[bool]:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(_literal(mailbox_sql._ANY_DOOMED, bal)))).all()
        return [bool(r[0]) for r in rows]

    assert await any_doomed("1") == [True]
    assert await any_doomed("2") == []  # not this BAL's folder: the write unit answers
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM mailbox_entry WHERE uid IN (3, 4)"))
    assert await any_doomed("1") == [False]  # "Deleted" (a keyword) is not \\Deleted


async def test_downgrade_drops_the_partial_indexes(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:  # noqa: F811
    url, engine = database
    await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", "head")
    await asyncio.to_thread(_alembic, url, tmp_path, "downgrade", "0012")
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = (await conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'index'"))).scalars().all()
        else:
            names = (await conn.execute(text("SELECT indexname FROM pg_indexes"))).scalars().all()
    assert not {"ix_mailbox_entry_deleted", "ix_mailbox_entry_unseen"} & set(names)
