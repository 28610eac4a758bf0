"""The whole migration history, down to nothing and up again, on a fresh
database (SQLite, or PostgreSQL with MSS_TEST_DATABASE_URL): every downgrade
removes what its upgrade made (tables, indexes, triggers, functions), so the
schema rebuilt afterwards matches the models and keeps its guarantees (the
audit table still refuses UPDATE and DELETE).

Ref: docs/architecture.md "Storage" (Alembic is the only way the schema
changes), "AuditSink" (database triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from directory import models as _directory_models  # noqa: F401  (registers its tables)
from imap_store.store.models import Base
from server.migrate import alembic_config
from tests.support import create_pg_database, drop_pg_database, is_postgres

AUDIT_ROW = ("INSERT INTO audit (ts, event, protocol, session, peer, bal, person, detail) "
             "VALUES (CURRENT_TIMESTAMP, 'test', 'cli', '', '', '', '', '{}')")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[str, AsyncEngine]]:
    pg_name = None
    if is_postgres():
        url, pg_name = await create_pg_database()
    else:
        url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    engine = create_async_engine(alembic_config(url, tmp_path).attributes["url"])
    try:
        yield url, engine
    finally:
        await engine.dispose()
        if pg_name:
            await drop_pg_database(pg_name)


def _alembic(url: str, base: Path, verb: str, target: str) -> None:
    getattr(command, verb)(alembic_config(url, base), target)


BAL_ROW = ("INSERT INTO bal (id, address, bal_type, password_epoch, status, liste_rouge, "
           "created_at, published) VALUES (1, 'a@op.mssante.fr', 'PER', 0, 'active', false, "
           "CURRENT_TIMESTAMP, false)")


async def migrate_with_rows(url: str, engine: AsyncEngine, base: Path, target: str,
                            rows: list[str]) -> None:
    """Upgrade to `target`, then run the INSERTs `rows` (`:blob` bound to a byte)."""
    await asyncio.to_thread(_alembic, url, base, "upgrade", target)
    async with engine.begin() as conn:
        for sql in rows:
            await conn.execute(text(sql), {"blob": b"x"} if ":blob" in sql else {})


def _revisions(url: str, base: Path) -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(url, base))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _schema(connection: Any) -> dict[str, Any]:
    insp = inspect(connection)
    tables = sorted(t for t in insp.get_table_names() if t != "alembic_version")
    out: dict[str, Any] = {"tables": tables}
    out["indexes"] = {t: sorted(i["name"] for i in insp.get_indexes(t)) for t in tables}
    if connection.dialect.name == "sqlite":
        rows = connection.execute(text(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')"))
    else:
        rows = connection.execute(text(
            "SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal "
            "UNION ALL SELECT 'function', proname FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
            "UNION ALL SELECT 'type', typname FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype = 'e' "
            "UNION ALL SELECT 'sequence', sequencename FROM pg_sequences "
            "WHERE schemaname = 'public'"))
    out["objects"] = sorted((str(kind), str(name)) for kind, name in rows)
    return out


def _model_diff(connection: Any) -> list[Any]:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


async def _audit_is_append_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(AUDIT_ROW))
    for statement in ("UPDATE audit SET event = 'changed'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT event FROM audit"))).scalars().all() == ["test"]


async def test_downgrade_to_base_and_upgrade_to_head_again(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:
    url, engine = database
    await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", "head")
    async with engine.connect() as conn:
        first = await conn.run_sync(_schema)
        assert await conn.run_sync(_model_diff) == []
    assert "audit" in first["tables"] and first["objects"]
    await _audit_is_append_only(engine)

    await asyncio.to_thread(_alembic, url, tmp_path, "downgrade", "base")
    async with engine.connect() as conn:
        emptied = await conn.run_sync(_schema)
        version = (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar()
    assert emptied == {"tables": [], "indexes": {}, "objects": []}
    assert version == 0

    await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", "head")
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema) == first
        assert await conn.run_sync(_model_diff) == []
    await _audit_is_append_only(engine)


async def test_each_revision_downgrades_and_upgrades_again(
        database: tuple[str, AsyncEngine], tmp_path: Path) -> None:
    """From the top, one step down then one step up at every revision: the
    schema at each revision is the same whichever way it was reached."""
    url, engine = database
    revisions = _revisions(url, tmp_path)
    assert len(revisions) >= 5
    seen: dict[str, dict[str, Any]] = {}
    for rev in revisions:
        await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", rev)
        async with engine.connect() as conn:
            seen[rev] = await conn.run_sync(_schema)
    for below, rev in reversed(list(zip(["base", *revisions[:-1]], revisions, strict=True))):
        await asyncio.to_thread(_alembic, url, tmp_path, "downgrade", below)
        if below != "base":
            async with engine.connect() as conn:
                assert await conn.run_sync(_schema) == seen[below], f"down to {below}"
        await asyncio.to_thread(_alembic, url, tmp_path, "upgrade", rev)
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema) == seen[rev], f"up again to {rev}"
        await asyncio.to_thread(_alembic, url, tmp_path, "downgrade", below)
