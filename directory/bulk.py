"""Bulk row insertion for directory imports, on the session's own transaction.

Owns: `bulk_insert(session, table, columns, rows)`: `COPY` on PostgreSQL
(asyncpg `copy_records_to_table`), the driver's `executemany` on SQLite.
Going under the ORM is what makes a 536,000-row import fit in a minute.

Invariants: rows are written inside the caller's transaction (a statement is
executed through SQLAlchemy first, which opens it), so a failed chunk leaves
nothing behind; table and column names come from the models, never from input.

Ref: docs/architecture.md "Storage" (SQLite and PostgreSQL, same models).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def _driver(session: AsyncSession) -> Any:
    await session.execute(text("SELECT 1"))
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def bulk_insert(session: AsyncSession, table: str, columns: Sequence[str],
                      rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` in one round."""
    if not rows:
        return
    driver = await _driver(session)
    if session.get_bind().dialect.name == "postgresql":
        await driver.copy_records_to_table(table, records=rows, columns=list(columns))
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    await driver.executemany(sql, rows)
