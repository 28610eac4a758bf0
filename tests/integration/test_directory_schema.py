"""Migration 0005 (directory and publication outbox): upgrade, downgrade and upgrade
again on a fresh database (SQLite, or PostgreSQL with MSS_TEST_DATABASE_URL); the
migrated tables match the models; existing active BALs become published with an
outbox event each (R13).

Ref: docs/architecture.md "Storage" (Alembic is the only way the schema changes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from imap_store.store.models import Base
from server.migrate import alembic_config
from tests.support import create_pg_database, drop_pg_database, is_postgres

TABLES = {"directory_version", "directory_entry", "directory_posting", "directory_homonym",
          "directory_local_token", "publication_event"}
BAL = ("INSERT INTO bal (address, bal_type, status, liste_rouge, published, created_at) "
       "VALUES (:a, 'PER', :s, :lr, :no, CURRENT_TIMESTAMP)")


def _tables_of(diff: Any) -> set[str]:
    items = diff if isinstance(diff, list) else [diff]
    found = set()
    for item in items:
        for part in item[1:]:
            table = getattr(part, "table", None)
            name = table.name if table is not None else getattr(part, "name", part)
            if isinstance(name, str):
                found.add(name)
    return found


def _diff(connection: Any) -> list[Any]:
    diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diffs if _tables_of(d) & TABLES]


def _migrate(url: str, base: Path, target: str) -> None:
    command.upgrade(alembic_config(url, base), target) if target != "0004" else \
        command.downgrade(alembic_config(url, base), target)


async def test_migration_0005_round_trip_matches_models_and_publishes(tmp_path: Path) -> None:
    pg_name = None
    if is_postgres():
        url, pg_name = await create_pg_database()
    else:
        url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    engine = create_async_engine(alembic_config(url, tmp_path).attributes["url"])
    try:
        await asyncio.to_thread(_migrate, url, tmp_path, "head")
        await asyncio.to_thread(_migrate, url, tmp_path, "0004")
        async with engine.begin() as conn:
            for address, status, lr in (("a@x.fr", "active", False), ("b@x.fr", "active", True),
                                        ("c@x.fr", "suspended", False)):
                await conn.execute(text(BAL), {"a": address, "s": status, "lr": lr,
                                               "no": False})
        await asyncio.to_thread(_migrate, url, tmp_path, "head")
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            published = (await conn.execute(text(
                "SELECT address FROM bal WHERE published = :yes"), {"yes": True})).scalars()
            assert list(published) == ["a@x.fr"]
            events = (await conn.execute(text(
                "SELECT address, published, reason FROM publication_event"))).all()
            assert [tuple(e) for e in events] == [("a@x.fr", True, "migration")]
    finally:
        await engine.dispose()
        if pg_name:
            await drop_pg_database(pg_name)
