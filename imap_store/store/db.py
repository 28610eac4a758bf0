"""Database access: engines, sessions, and the SQLite durability settings.

Owns: turning the configured URL into async engines, the read/write session
factories, per-connection PRAGMAs, the group-commit writer of the database
(`writer`, `group_commit.GroupWriter`), its pool of plain read transactions
(`reader`, `read_pool.ReadPool`).

Invariants:
- SQLite runs in WAL mode with `synchronous=FULL` (a commit is on disk when it
  returns) and `secure_delete=ON` (deleted rows, e.g. wrapped data keys, are
  overwritten, which crypto-shredding relies on).
- SQLite write transactions start with `BEGIN IMMEDIATE` and are serialised
  in-process by a lock, so a write never fails on a lock upgrade; the
  group-commit writer's batches take the same lock.

Ref: docs/architecture.md "Storage"; SQLite WAL and PRAGMA documentation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .group_commit import GroupWriter
from .read_pool import ReadPool

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=15000",
)


def async_url(url: str, base_dir: Path) -> URL:
    """Map a configured URL to its async driver; relative SQLite paths use base_dir."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not Path(db).is_absolute():
            db = str((base_dir / db).resolve())
        return parsed.set(drivername="sqlite+aiosqlite", database=db)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database backend {backend!r}")


def _install_sqlite_hooks(engine: AsyncEngine, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Engines and sessions for one database; `read()` and `write()` give sessions."""

    def __init__(self, url: str, base_dir: Path, *, pool_size: int = 10) -> None:
        self.url = async_url(url, base_dir)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            Path(self.url.database or "").parent.mkdir(parents=True, exist_ok=True)
            self.read_engine = create_async_engine(self.url)
            self.write_engine = create_async_engine(self.url, pool_size=1, max_overflow=0)
            _install_sqlite_hooks(self.read_engine, immediate=False)
            _install_sqlite_hooks(self.write_engine, immediate=True)
        else:
            self.read_engine = create_async_engine(
                self.url, pool_size=pool_size, pool_pre_ping=True)
            self.write_engine = self.read_engine
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # units of work committed in groups (deliveries, audit records): `group_commit`
        pg_dsn = (None if self.is_sqlite else self.url.set(drivername="postgresql")
                  .render_as_string(hide_password=False))
        self.writer = (GroupWriter(sqlite_path=self.url.database, sqlite_pragmas=SQLITE_PRAGMAS,
                                   sqlite_lock=self._write_lock) if self.is_sqlite
                       else GroupWriter(pg_dsn=pg_dsn))
        # whole read transactions as plain statements, one hop each: `read_pool`
        self.reader = (ReadPool(sqlite_path=self.url.database, sqlite_pragmas=SQLITE_PRAGMAS)
                       if self.is_sqlite else ReadPool(pg_dsn=pg_dsn, pg_size=pool_size))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; its transaction is rolled back at exit."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed durably at exit, rolled back on error."""
        if self._write_lock is None:
            async with self._write() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._write() as session, session.begin():
            yield session

    async def checkpoint(self) -> None:
        """Fold the SQLite WAL into the main file (after a crypto-shred)."""
        if not self.is_sqlite:
            return
        async with self.write_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def dispose(self) -> None:
        await self.writer.close()
        await self.reader.close()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
