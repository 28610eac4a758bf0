"""Group commit: units of write work run by one writer, in shared transactions.

Owns: `GroupWriter` (one per `Database`: `Database.writer`), `WriteTx` (what a
unit of work sees: plain SQL with `$1`-style parameters, rows as tuples),
`Unit`, and `insert_together` (several single-row INSERT templates with their
rows: one statement on PostgreSQL, `chained_inserts`, one `executemany` each on
SQLite). A unit of work is an `async def unit(tx) -> T` that awaits nothing but
`tx`, reads and writes plain values (no ORM objects) and has no effect outside
the database, so that it can be run again.

Invariants:
- Units submitted while a batch is being committed form the next batch; a
  batch runs its units in arrival order in ONE transaction, ended by one
  commit (one fsync: SQLite `synchronous=FULL`, PostgreSQL
  `synchronous_commit`). No unit waits for others to arrive: a unit alone
  is a batch of one.
- `run` returns (or raises) only after the commit of the transaction that
  holds the unit's work has returned: an answer given on it is durable.
- A failure fails only what it must: when a unit raises or the commit fails,
  the batch is rolled back and each of its units runs again alone, in its
  own transaction, and is answered with its own outcome. A unit alone that
  PostgreSQL aborts as one side of a deadlock or a serialisation failure (the
  batches of two worker processes locking folder rows in opposite orders) is
  run again, up to `RETRIES` times, before its error is its answer.
- A unit whose caller went away (its `run` cancelled) before its
  transaction commits is never committed: it is dropped before it runs, and
  a transaction in which a caller went away before COMMIT is rolled back and
  its other units run again alone.
- On SQLite, units run in one dedicated thread on its own connection
  (`BEGIN IMMEDIATE`, the PRAGMAs of `db.SQLITE_PRAGMAS`), while the event
  loop holds the process's write lock: writes stay serialised with the
  session writers of `Database.write`, and a batch costs the loop one
  thread hop. Between processes (`server.workers`), the writers queue on
  an exclusive `flock` of `<database>-writer.lock` held around each
  transaction, so one waiting wakes as soon as the other commits. On
  PostgreSQL, units run on one dedicated asyncpg connection of the writer,
  on the event loop.

Ref: docs/architecture.md "Storage"; SQLite "Atomic Commit", PostgreSQL
"Reliability and the Write-Ahead Log" (one WAL flush per commit).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import re
import sqlite3
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = tuple[Any, ...]


class WriteTx(Protocol):
    """The transaction a unit of work runs in: SQL with `$1`, `$2`... parameters."""

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def execute(self, sql: str, *args: object) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...


Unit = Callable[[WriteTx], Awaitable[T]]


class _Conn(WriteTx, Protocol):
    async def begin(self) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


@lru_cache(maxsize=256)
def sqlite_sql(sql: str) -> str:
    """`$n` parameters as SQLite's `?n`; row locks are the write lock on SQLite."""
    return re.sub(r" FOR UPDATE( OF \w+)?", "", re.sub(r"\$(\d+)", r"?\1", sql))


def sqlite_value(value: object) -> object:
    """A parameter as SQLAlchemy stores it in SQLite (datetimes: UTC text, microseconds)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


class _SqliteConn:
    """The writer thread's connection; used only in that thread.

    With `lock_path`, a write transaction also holds an exclusive `flock` on that
    file from before `BEGIN IMMEDIATE` to after its end: the writers of the other
    processes on the database (`server.workers`) wait in the kernel and wake the
    moment it is released, where SQLite's busy handler would poll with sleeps of up
    to 100 ms."""

    same_thread = True
    """Whether sqlite3 checks that only the opening thread uses the connection."""

    def __init__(self, path: str, pragmas: Sequence[str], lock_path: str | None = None) -> None:
        self.path, self.pragmas, self.lock_path = path, pragmas, lock_path
        self.conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._locked = False

    def _open(self) -> sqlite3.Connection:
        if self.conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None,
                                   check_same_thread=self.same_thread)
            for pragma in self.pragmas:
                conn.execute(pragma)
            self.conn = conn
        return self.conn

    def _lock(self) -> None:
        if self.lock_path is None:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._locked = True

    def _unlock(self) -> None:
        if self._locked and self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        self._locked = False

    async def begin(self) -> None:
        self._lock()
        try:
            self._open().execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise

    async def commit(self) -> None:
        self._open().execute("COMMIT")
        self._unlock()

    async def rollback(self) -> None:
        conn = self._open()
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            self._unlock()

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return self._open().execute(sqlite_sql(sql), [sqlite_value(a) for a in args]).fetchall()

    async def execute(self, sql: str, *args: object) -> None:
        self._open().execute(sqlite_sql(sql), [sqlite_value(a) for a in args])

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._open().executemany(sqlite_sql(sql), [[sqlite_value(a) for a in r] for r in rows])

    async def insert_blob(self, sql: str, args: Sequence[object], blob: int, table: str,
                          column: str, piece: int) -> None:
        """`sql` (one INSERT into `table`) with its parameter number `blob` (0-based),
        the value of `column`, written after the row: the row goes in with a zeroblob
        of that size, then the octets through SQLite's incremental blob I/O, `piece`
        octets per call. Binding the value would copy it whole while holding the GIL
        (25 MB: 5 to 13 ms during which the event loop cannot run); each blob write
        gives the GIL up."""
        data = memoryview(args[blob])  # type: ignore[arg-type]
        zeroed = re.sub(rf"\${blob + 1}\b", f"zeroblob(${blob + 1})", sql)
        values = [len(data) if n == blob else sqlite_value(a) for n, a in enumerate(args)]
        conn = self._open()
        rowid = conn.execute(sqlite_sql(zeroed), values).lastrowid
        assert rowid is not None
        with conn.blobopen(table, column, rowid) as out:
            for start in range(0, len(data), piece):
                out.write(data[start:start + piece])

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd, self._locked = None, False


class _PgConn:
    """The writer's asyncpg connection (opened on first use, reopened after a loss)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None

    async def _open(self) -> Any:
        if self.conn is None or self.conn.is_closed():
            import asyncpg  # the PostgreSQL driver, present only where it is used

            self.conn = await asyncpg.connect(self.dsn)
        return self.conn

    async def begin(self) -> None:
        await (await self._open()).execute("BEGIN")

    async def commit(self) -> None:
        await (await self._open()).execute("COMMIT")

    async def rollback(self) -> None:
        if self.conn is not None and not self.conn.is_closed() and self.conn.is_in_transaction():
            try:
                await self.conn.execute("ROLLBACK")
            except Exception:  # a broken connection: drop it, the next batch reopens
                self.conn.terminate()

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return [tuple(r) for r in await (await self._open()).fetch(sql, *args)]

    async def execute(self, sql: str, *args: object) -> None:
        await (await self._open()).execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await (await self._open()).executemany(sql, list(rows))

    async def insert_together(self, parts: Sequence[tuple[str, Sequence[Sequence[object]]]]
                              ) -> None:
        """`insert_together` as ONE statement: one round trip to the server."""
        sql, args = chained_inserts(parts)
        await self.execute(sql, *args)

    async def copy_binary(self, table: str, columns: Sequence[str],
                          source: AsyncIterable[bytes]) -> None:
        """`COPY table (columns) FROM STDIN (FORMAT binary)` fed from `source`, each
        piece sent when the connection's transport has drained the previous one."""
        await (await self._open()).copy_to_table(table, source=source, columns=list(columns),
                                                 format="binary")

    async def close(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()
        self.conn = None


_SINGLE_ROW = re.compile(r"(INSERT INTO .+? VALUES )\((\$\d+(?:, \$\d+)*)\)(.*)", re.S)
MAX_CHAINED_ARGS = 30_000  # PostgreSQL takes at most 65,535 parameters per statement


def chained_inserts(parts: Sequence[tuple[str, Sequence[Sequence[object]]]]
                    ) -> tuple[str, list[object]]:
    """One PostgreSQL statement doing the inserts of `parts` in order: each
    `INSERT ... VALUES ($1, ..., $k)` template given all its rows (a multi-row VALUES),
    every one but the last as a data-modifying `WITH` query. A row inserted by an
    earlier part satisfies a foreign key of a later one: PostgreSQL checks those at
    the end of the statement (PostgreSQL "WITH Queries", data-modifying statements)."""
    args: list[object] = []
    clauses = []
    for template, rows in parts:
        found = _SINGLE_ROW.fullmatch(template)
        if found is None:
            raise ValueError("not a single-row INSERT ... VALUES ($1, ...) template")
        head, params, tail = found.groups()
        width = params.count("$")
        groups = []
        for row in rows:
            if len(row) != width:
                raise ValueError("a row does not match its template")
            base = len(args)
            args.extend(row)
            groups.append("(" + ", ".join(f"${base + n}" for n in range(1, width + 1)) + ")")
        clauses.append(head + ", ".join(groups) + tail)
    *first, last = clauses
    ctes = ", ".join(f"w{n} AS ({clause})" for n, clause in enumerate(first))
    return (f"WITH {ctes} {last}" if ctes else last), args


async def insert_together(tx: WriteTx,
                          parts: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
    """The inserts of `parts` (template, rows), in order, in the unit's transaction: on
    the PostgreSQL writer one statement (`chained_inserts`, one round trip), elsewhere
    one `executemany` per part."""
    parts = [(template, rows) for template, rows in parts if rows]
    together = getattr(tx, "insert_together", None)
    if (together is not None and len(parts) > 1
            and sum(len(r) * len(r[0]) for _, r in parts) <= MAX_CHAINED_ARGS):
        await together(parts)
        return
    for template, rows in parts:
        await tx.executemany(template, rows)


@dataclass
class _Pending:
    unit: Unit[Any]
    future: asyncio.Future[Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    abandoned: bool = False

    @property
    def gone(self) -> bool:
        """The caller went away, or was told the writer stopped (read from the writer
        thread too: attribute reads only)."""
        return self.abandoned or self.future.cancelled()


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the SQLite path) to its end, synchronously."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a unit of work awaited something other than its transaction")


async def run_batch(conn: _Conn, batch: Sequence[_Pending]) -> None:
    """Run `batch` as one transaction; on any failure, each unit again alone."""
    live = [p for p in batch if not p.gone]
    if len(live) > 1:
        try:
            await conn.begin()
            results = [await p.unit(conn) for p in live]
            if any(p.gone for p in live):
                raise _CallerGone
            await conn.commit()
        except Exception:
            await conn.rollback()
        else:
            for p, value in zip(live, results, strict=True):
                p.done, p.result = True, value
            return
    for p in live:
        await _run_alone(conn, p)


class _CallerGone(Exception):
    """A caller went away before COMMIT: the transaction is run again without it."""


# PostgreSQL's answers to two transactions that lock rows in opposite orders (the batches
# of two processes) or that cannot be serialised: the one aborted may simply run again.
_TRANSIENT = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
RETRIES = 3


async def _run_alone(conn: _Conn, p: _Pending) -> None:
    for attempt in range(RETRIES + 1):
        if p.gone:
            return
        try:
            await conn.begin()
            value = await p.unit(conn)
            if p.gone:
                await conn.rollback()
                return
            await conn.commit()
        except Exception as exc:
            await conn.rollback()
            if getattr(exc, "sqlstate", None) in _TRANSIENT and attempt < RETRIES:
                await asyncio.sleep(random.uniform(0.001, 0.02) * (attempt + 1))
                continue
            p.done, p.error = True, exc
            return
        p.done, p.result = True, value
        return


@dataclass
class GroupWriter:
    """Runs units of work in batches: see the module docstring."""

    sqlite_path: str | None = None
    sqlite_pragmas: Sequence[str] = ()
    sqlite_lock: asyncio.Lock | None = None
    pg_dsn: str | None = None
    _pending: list[_Pending] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _thread: ThreadPoolExecutor | None = None
    _sqlite: _SqliteConn | None = None
    _pg: _PgConn | None = None
    batches: int = 0
    units: int = 0
    recent_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=64))

    async def run(self, unit: Unit[T]) -> T:
        """Run `unit` in the next batch; its value once that batch is durably committed."""
        loop = asyncio.get_running_loop()
        pending = _Pending(unit, loop.create_future())
        self._pending.append(pending)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name="group commit")
        value: T = await pending.future
        return value

    @property
    def waiting(self) -> int:
        """Units submitted that wait for the next batch."""
        return len(self._pending)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._commit(batch)
            finally:
                self._answer(batch)

    @staticmethod
    def _answer(batch: Sequence[_Pending]) -> None:
        for p in batch:
            if p.future.done():
                continue
            if not p.done:
                p.abandoned = True
                p.future.set_exception(RuntimeError("the writer stopped before this unit ran"))
            elif p.error is not None:
                p.future.set_exception(p.error)
            else:
                p.future.set_result(p.result)

    async def _commit(self, batch: list[_Pending]) -> None:
        self.batches += 1
        self.units += len(batch)
        self.recent_sizes.append(len(batch))
        if self.sqlite_path is not None:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="mss-db-writer")
                on_disk = self.sqlite_path not in ("", ":memory:")
                self._sqlite = _SqliteConn(
                    self.sqlite_path, self.sqlite_pragmas,
                    lock_path=self.sqlite_path + "-writer.lock" if on_disk else None)
            conn, thread = self._sqlite, self._thread
            assert conn is not None and self.sqlite_lock is not None
            async with self.sqlite_lock:
                await asyncio.get_running_loop().run_in_executor(
                    thread, drive, run_batch(conn, batch))
            return
        if self._pg is None:
            if self.pg_dsn is None:
                raise RuntimeError("the writer has no database")
            self._pg = _PgConn(self.pg_dsn)
        await run_batch(self._pg, batch)

    async def close(self) -> None:
        """Stop: a batch under way is cancelled (its callers get an error), connections closed."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pg is not None:
            with suppress(Exception):  # a connection already broken: nothing to close cleanly
                await self._pg.close()
            self._pg = None
        if self._thread is not None and self._sqlite is not None:
            self._thread.submit(self._sqlite.close)
            self._thread.shutdown(wait=False)
            self._thread, self._sqlite = None, None
