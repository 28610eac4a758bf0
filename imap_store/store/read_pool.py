"""Read units: a whole read transaction per hop, plain statements, plain rows.

Owns: `ReadPool` (one per `Database`: `Database.reader`). A read unit is an
`async def unit(tx) -> T` like a writer's unit (`group_commit.Unit`): it
awaits nothing but `tx` (`tx.fetch(sql, *args)`, `$1`-style parameters,
rows as tuples), and hands back plain values. The IMAP engine's hot reads
(a folder's index, the changes since a MODSEQ, bodies, metas, STATUS, LIST)
are such units, so one command costs one hop and no ORM object.

Invariants:
- A unit's statements see one snapshot: on SQLite they run in one deferred
  transaction (`BEGIN` ... `ROLLBACK`) on the pool thread's own connection
  (WAL: readers never wait for the writer); on PostgreSQL in one
  `REPEATABLE READ`, read-only transaction on a pooled asyncpg connection. A
  unit run as `single` has one statement, which is its own snapshot: it runs
  alone (SQLite autocommit, PostgreSQL's implicit transaction), without the
  `BEGIN` and the end of a transaction (two round trips on PostgreSQL).
- Nothing a unit does is ever committed: the transaction is rolled back.
- On SQLite a unit runs on the calling thread (the event loop's) with that
  thread's own connection: no thread hop (each costs a wake-up on both sides
  and a wait for the GIL: a fifth of the CPU of an IMAP command measured
  under imaptest), and sqlite3 releases the GIL while SQLite works. A unit
  said to be `large` (it reads message bodies, or rows in proportion to a
  folder's size: more than `INLINE_ROWS` entries) runs instead in one of
  `threads` dedicated threads, so no loop step is proportional to a folder
  or a message. Every connection is opened with `db.SQLITE_PRAGMAS`; values
  come back as SQLite stores them (dates as text: `as_datetime`).

Ref: docs/architecture.md "Storage"; SQLite "Isolation In SQLite" (WAL
snapshots); PostgreSQL "Transaction Isolation" (Repeatable Read).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TypeVar

from .group_commit import Row, Unit, WriteTx, _SqliteConn, drive

T = TypeVar("T")
INLINE_ROWS = 500
"""Entries a unit may read on the event loop (about 1 ms on SQLite); above, `large`."""
INLINE_OCTETS = 256 * 1024
"""Sealed message octets a unit may read on the event loop; above, `large`."""


def as_datetime(value: object) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives text, naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {type(value).__name__}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def fetch_in(sql: str, ids: Sequence[object], tx: WriteTx) -> list[Row]:
    """A read unit: `sql` with `{ids}` made the placeholders `$1, ...` of `ids`
    (a constant statement; only the count of placeholders varies)."""
    return await tx.fetch(sql.format(ids=", ".join(f"${n}" for n in range(1, len(ids) + 1))),
                          *ids)


class _SqliteReader(_SqliteConn):
    """A pool thread's connection: deferred transactions, never committed. Only its
    thread uses it; `ReadPool.close` closes it once that thread has ended."""

    same_thread = False  # closed by `ReadPool.close` from another thread

    async def begin(self) -> None:
        self._open().execute("BEGIN")


class _PgReadTx:
    """A pooled asyncpg connection inside the unit's read-only transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return [tuple(r) for r in await self.conn.fetch(sql, *args)]

    async def execute(self, sql: str, *args: object) -> None:
        await self.conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self.conn.executemany(sql, list(rows))


class SingleStatementError(RuntimeError):
    """A read unit run as `single` ran a second statement."""


class _Single:
    """A read transaction that takes one statement (`ReadPool.run(single=True)`)."""

    def __init__(self, tx: _PgReadTx | _SqliteReader) -> None:
        self._tx, self._used = tx, False

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        if self._used:
            raise SingleStatementError("a single-statement read unit ran a second statement")
        self._used = True
        return await self._tx.fetch(sql, *args)

    async def execute(self, sql: str, *args: object) -> None:
        raise SingleStatementError("a read unit writes nothing")

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        raise SingleStatementError("a read unit writes nothing")


async def _keep_session(conn: Any) -> None:
    """A read connection's reset on its way back to the pool: nothing to undo.

    asyncpg's default reset (unlock advisory locks, close cursors, UNLISTEN,
    RESET ALL) is one more round trip per read unit; a read unit only ever runs
    statements inside its own read-only transaction, which asyncpg has ended
    (and rolls back itself if it were still open) before this is called, so the
    session has nothing to reset. Its prepared statements are kept, as wanted."""


class ReadPool:
    """Runs read units: see the module docstring."""

    def __init__(self, *, sqlite_path: str | None = None, sqlite_pragmas: Sequence[str] = (),
                 threads: int = 2, pg_dsn: str | None = None, pg_size: int = 10) -> None:
        self.sqlite_path, self.sqlite_pragmas = sqlite_path, sqlite_pragmas
        self.threads, self.pg_dsn, self.pg_size = threads, pg_dsn, pg_size
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[_SqliteReader] = []
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self.units = 0
        self.hops = 0
        """Units run in a pool thread (SQLite, `large`)."""

    @property
    def inline_rows(self) -> int | None:
        """How many entries a unit may read on the loop (None: no bound, PostgreSQL,
        where every unit's statements are round trips on the loop anyway)."""
        return INLINE_ROWS if self.sqlite_path is not None else None

    async def run(self, unit: Unit[T], *, large: bool = False, single: bool = False) -> T:
        """Run `unit` in one read transaction; its value. `large`: the unit may read
        message bodies or a whole folder (SQLite: in a pool thread, not on the loop).
        `single`: the unit runs one statement, which is its own snapshot: on
        PostgreSQL it runs without BEGIN and COMMIT (two round trips fewer); a
        second statement raises `SingleStatementError`."""
        self.units += 1
        if self.sqlite_path is not None:
            if not large:
                return self._run_sqlite(unit, single)
            self.hops += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads,
                                                    thread_name_prefix="mss-db-reader")
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._run_sqlite, unit, single)
        pool = await self._pg_pool()
        async with pool.acquire() as conn:
            if single:
                return await unit(_Single(_PgReadTx(conn)))
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await unit(_PgReadTx(conn))

    def _run_sqlite(self, unit: Unit[T], single: bool = False) -> T:
        """`unit` on this thread's own connection (opened on first use). A `single`
        unit's one SELECT runs in autocommit mode, its own read transaction: no BEGIN
        and no ROLLBACK around it."""
        conn: _SqliteReader | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.sqlite_path is not None
            conn = self._local.conn = _SqliteReader(self.sqlite_path, self.sqlite_pragmas)
            self._conns.append(conn)

        async def alone() -> T:
            return await unit(_Single(conn))

        async def whole() -> T:
            await conn.begin()
            try:
                return await unit(conn)
            finally:
                await conn.rollback()

        return drive(alone() if single else whole())

    async def _pg_pool(self) -> Any:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    import asyncpg  # the PostgreSQL driver, present only where it is used

                    self._pool = await asyncpg.create_pool(
                        self.pg_dsn, min_size=1, max_size=self.pg_size, reset=_keep_session)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            with suppress(Exception):  # connections already broken: nothing to close cleanly
                await self._pool.close()
            self._pool = None
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        for conn in self._conns:  # the pool's threads have ended; the loop's is this one
            conn.close()
        self._conns = []
        self._local = threading.local()
