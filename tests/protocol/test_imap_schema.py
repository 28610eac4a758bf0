"""Migration 0004 (IMAP engine storage): upgrade, downgrade and upgrade again on
a fresh database (SQLite, or PostgreSQL with MSS_TEST_DATABASE_URL), and the
migrated schema of the engine's tables matches the models.

Ref: docs/architecture.md "Storage" (Alembic is the only way the schema changes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from imap_store.store.models import Base
from server.migrate import alembic_config
from tests.support import create_pg_database, drop_pg_database, is_postgres

TABLES = {"folder", "message_content", "folder_subscription", "folder_counter",
          "mailbox_entry"}


def _cycle(url: str, base: Path) -> None:
    cfg = alembic_config(url, base)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "0003")
    command.upgrade(cfg, "0004")
    command.upgrade(cfg, "head")


def _diff(connection) -> list:  # noqa: ANN001
    context = MigrationContext.configure(connection)
    diffs = compare_metadata(context, Base.metadata)
    return [d for d in diffs if _table_of(d) in TABLES]


def _table_of(diff) -> str | None:  # noqa: ANN001
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else part
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        if isinstance(name, str) and name in TABLES:
            return name
    return None


async def test_migration_0004_round_trip_and_matches_models(tmp_path: Path) -> None:
    pg_name = None
    if is_postgres():
        url, pg_name = await create_pg_database()
    else:
        url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    try:
        await asyncio.to_thread(_cycle, url, tmp_path)
        engine = create_async_engine(alembic_config(url, tmp_path).attributes["url"])
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("folder")})
            assert "recent_uid" in columns
            assert await conn.run_sync(_diff) == []
        await engine.dispose()
    finally:
        if pg_name:
            await drop_pg_database(pg_name)
