"""Read units (`imap_store.store.read_pool.ReadPool`) on SQLite and on the real
PostgreSQL server, in every run of the suite: one transaction per unit, a snapshot,
nothing ever committed.

Ref: SQLite "Isolation In SQLite"; PostgreSQL "Transaction Isolation".
"""

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

import asyncpg
import pytest

from imap_store.store.db import SQLITE_PRAGMAS
from imap_store.store.group_commit import Row, WriteTx
from imap_store.store.read_pool import ReadPool, SingleStatementError, as_datetime, fetch_in
from tests.integration.test_leader import pg_url  # noqa: F401 (the fixture)


async def _fetch(sql: str, tx: WriteTx) -> list[Row]:
    return await tx.fetch(sql)


async def _insert_then_read(tx: WriteTx) -> list[Row]:
    await tx.execute("INSERT INTO t (x) VALUES (2)")
    return await tx.fetch("SELECT x FROM t ORDER BY x")


async def test_sqlite_units_read_and_never_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (x INTEGER)")
        setup.execute("INSERT INTO t (x) VALUES (1)")
    pool = ReadPool(sqlite_path=path, sqlite_pragmas=SQLITE_PRAGMAS, threads=2)
    try:
        assert await pool.run(partial(fetch_in, "SELECT x FROM t WHERE x IN ({ids})", [1, 5])) \
            == [(1,)]
        assert await pool.run(_insert_then_read) == [(1,), (2,)]  # seen inside the unit
        assert await pool.run(partial(_fetch, "SELECT x FROM t")) == [(1,)]  # rolled back
        assert pool.units == 3
    finally:
        await pool.close()
    await pool.close()  # twice: nothing left to close


async def test_postgresql_units_are_read_only_repeatable_read(
        pg_url: str) -> None:  # noqa: F811 (the fixture)
    pool = ReadPool(pg_dsn=pg_url, pg_size=2)
    try:
        rows = await pool.run(partial(_fetch, "SELECT current_setting('transaction_isolation'), "
                                               "current_setting('transaction_read_only')"))
        assert rows == [("repeatable read", "on")]
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await pool.run(partial(_fetch, "CREATE TEMPORARY TABLE t (x int)"))
        assert await pool.run(partial(
            fetch_in, "SELECT x FROM generate_series(1, 3) x WHERE x IN ({ids})", [2])) == [(2,)]
    finally:
        await pool.close()


def test_stored_timestamps_read_back_as_aware_utc() -> None:
    assert as_datetime("2026-11-30 01:02:03.000004").isoformat() == \
        "2026-11-30T01:02:03.000004+00:00"
    with pytest.raises(TypeError):
        as_datetime(3)


async def _thread(tx: WriteTx) -> tuple[int, list[Row]]:
    import threading

    return threading.get_ident(), await tx.fetch("SELECT x FROM t ORDER BY x")


async def test_sqlite_small_units_run_on_the_loop_and_large_ones_in_a_pool_thread(
        tmp_path: Path) -> None:
    """A unit costs no thread hop unless it is `large` (bodies, a whole folder)."""
    import threading

    path = str(tmp_path / "db.sqlite3")
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x INTEGER)")
        setup.execute("INSERT INTO t (x) VALUES (1)")
    pool = ReadPool(sqlite_path=path, sqlite_pragmas=SQLITE_PRAGMAS, threads=1)
    try:
        here, rows = await pool.run(_thread)
        assert (here, rows) == (threading.get_ident(), [(1,)])
        assert pool._executor is None  # noqa: SLF001 (no pool thread was needed)
        there, rows = await pool.run(_thread, large=True)
        assert there != threading.get_ident() and rows == [(1,)]
        with sqlite3.connect(path) as writer:  # committed by another connection
            writer.execute("INSERT INTO t (x) VALUES (2)")
        assert (await pool.run(_thread))[1] == [(1,), (2,)]  # each unit a new snapshot
        assert (await pool.run(_thread, large=True))[1] == [(1,), (2,)]
        assert len(pool._conns) == 2  # noqa: SLF001 (the loop's and the pool thread's)
    finally:
        await pool.close()
    assert pool._conns == []  # noqa: SLF001


async def _last_statement(dsn: str, pid: int) -> str:
    """The last statement the server received on the backend `pid` (another connection)."""
    watcher = await asyncpg.connect(dsn)
    try:
        return str(await watcher.fetchval(
            "SELECT query FROM pg_stat_activity WHERE pid = $1", pid))
    finally:
        await watcher.close()


async def test_postgresql_read_connections_go_back_without_a_reset_round_trip(
        pg_url: str) -> None:  # noqa: F811 (the fixture)
    """A unit is one transaction and nothing else: the pool's release does not send
    asyncpg's reset query (RESET ALL and the rest: one more round trip per unit), as the
    server itself shows (the backend's last statement); the connection is reused, and
    the next unit starts outside any transaction."""
    pool = ReadPool(pg_dsn=pg_url, pg_size=1)
    try:
        pid = (await pool.run(partial(_fetch, "SELECT pg_backend_pid()")))[0][0]
        await pool.run(partial(_fetch, "SELECT 42"))
        last = await _last_statement(pg_url, pid)
        assert "RESET" not in last.upper() and last.strip().upper() in ("COMMIT;", "COMMIT")
        again = await pool.run(partial(
            _fetch, "SELECT pg_backend_pid(), now() = statement_timestamp()"))
        assert again[0][0] == pid  # the same connection, in a new transaction
    finally:
        await pool.close()


async def _two_statements(tx: WriteTx) -> list[Row]:
    await tx.fetch("SELECT 1")
    return await tx.fetch("SELECT 2")


async def test_a_single_statement_unit_runs_outside_a_transaction_on_postgresql(
        pg_url: str) -> None:  # noqa: F811 (the fixture)
    """`single`: no BEGIN and COMMIT around the one statement (the server's last statement
    on that backend is the unit's own); a second statement is refused."""
    pool = ReadPool(pg_dsn=pg_url, pg_size=1)
    try:
        pid = (await pool.run(partial(_fetch, "SELECT pg_backend_pid()"), single=True))[0][0]
        last = await _last_statement(pg_url, pid)
        assert last == "SELECT pg_backend_pid()"
        with pytest.raises(SingleStatementError):
            await pool.run(_two_statements, single=True)
        assert await pool.run(_two_statements) == [(2,)]
    finally:
        await pool.close()


async def test_a_single_statement_unit_is_held_to_one_statement_on_sqlite(
        tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    sqlite3.connect(path).close()
    pool = ReadPool(sqlite_path=path, sqlite_pragmas=SQLITE_PRAGMAS)
    try:
        with pytest.raises(SingleStatementError):
            await pool.run(_two_statements, single=True)
        with pytest.raises(SingleStatementError):
            await pool.run(_insert_then_read, single=True)
        assert await pool.run(partial(_fetch, "SELECT 3"), single=True) == [(3,)]
    finally:
        await pool.close()


async def test_a_single_statement_unit_on_sqlite_ends_its_read_with_its_statement(
        tmp_path: Path) -> None:
    """`single` on SQLite runs the SELECT alone in autocommit mode (no BEGIN and ROLLBACK
    around it): it sees the last commit, and no snapshot outlives it, so the writer can
    reset the WAL after it (a TRUNCATE checkpoint is busy while a reader holds one)."""
    path = str(tmp_path / "db.sqlite3")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.execute("INSERT INTO t (x) VALUES (1)")
    pool = ReadPool(sqlite_path=path, sqlite_pragmas=SQLITE_PRAGMAS)
    try:
        for expected in ([(1,)], [(1,), (2,)]):
            assert await pool.run(partial(_fetch, "SELECT x FROM t ORDER BY x"),
                                  single=True) == expected
            assert writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            writer.execute("INSERT INTO t (x) VALUES (2)")
        reader = sqlite3.connect(path, isolation_level=None)  # the check itself can fail:
        reader.execute("BEGIN")  # a reader holding its snapshot makes it busy
        reader.execute("SELECT x FROM t").fetchall()
        assert writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 1
        reader.close()
    finally:
        await pool.close()
        writer.close()
