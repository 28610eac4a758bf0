"""The SQLite writer: small batches on the event loop, the WAL fsync outside the lock.

`group_commit.GroupWriter` runs a batch of `small` units on the event loop
when the locks are free at once, commits without syncing and releases the
locks, then `WalSync` fsyncs the WAL in its own thread before any unit of the
batch is answered. Checked against the real writer of a running operator:
where each unit runs, that the WAL of the database is synced while the
writers' lock is free and before the answer, that a taken lock sends the
batch to the writer thread without stopping the loop, and that a failed
fsync answers an error and runs nothing again. The fsync is observed by
wrapping `os.fdatasync`, the system call's entry point.

PostgreSQL has no such path (its writer commits with `synchronous_commit`).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from imap_store.store.group_commit import GroupWriter, WriteTx
from tests.support import Operator, is_postgres

pytestmark = pytest.mark.skipif(is_postgres(), reason="the WAL fsync path is SQLite's")


def writer_of(op: Operator) -> GroupWriter:
    return op.running.services.db.writer  # type: ignore[union-attr]


def counting_unit(log: list[tuple[str, int]]) -> Callable[[WriteTx], Any]:
    async def unit(tx: WriteTx) -> str:
        log.append(("unit", threading.get_ident()))
        await tx.execute("UPDATE folder SET highestmodseq = highestmodseq + 1 "
                         "WHERE id = (SELECT min(id) FROM folder)")
        return "done"
    return unit


def watch_wal_syncs(monkeypatch: pytest.MonkeyPatch, writer: GroupWriter,
                    log: list[tuple[str, int]], fail: bool = False) -> None:
    assert writer.sqlite_path is not None
    wal = os.path.realpath(writer.sqlite_path + "-wal")
    lock_path = writer.sqlite_path + "-writer.lock"
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == wal:
            lock = os.open(lock_path, os.O_RDWR)
            try:  # the other writers may go on while this one waits for the disk
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
            finally:
                os.close(lock)
            log.append(("sync", threading.get_ident()))
            if fail:
                raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)


async def test_a_small_batch_runs_on_the_loop_and_is_answered_after_its_wal_fsync(
        operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    await operator.add_bal("alice")
    writer, log = writer_of(operator), []
    watch_wal_syncs(monkeypatch, writer, log)
    on_loop, loop_thread = writer.on_loop, threading.get_ident()

    assert await writer.run(counting_unit(log), small=True) == "done"
    log.append(("answered", threading.get_ident()))

    assert [what for what, _ in log] == ["unit", "sync", "answered"]
    assert log[0][1] == loop_thread  # the statements and the commit: on the loop
    assert log[1][1] != loop_thread  # the fsync: in the writer's thread
    assert writer.on_loop == on_loop + 1


async def test_a_unit_not_small_runs_in_the_writer_thread(
        operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    await operator.add_bal("alice")
    writer, log = writer_of(operator), []
    watch_wal_syncs(monkeypatch, writer, log)
    on_loop = writer.on_loop

    assert await writer.run(counting_unit(log)) == "done"

    assert [what for what, _ in log] == ["unit", "sync"]
    assert log[0][1] != threading.get_ident()
    assert writer.on_loop == on_loop


async def test_a_taken_lock_sends_the_batch_to_the_thread_and_the_loop_runs_on(
        operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    await operator.add_bal("alice")
    writer, log = writer_of(operator), []
    assert writer.sqlite_path is not None
    other = os.open(writer.sqlite_path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process's writer, in its transaction
    try:
        task = asyncio.create_task(writer.run(counting_unit(log), small=True))
        ticks = 0
        for _ in range(10):  # the loop is not held by the batch waiting for the lock
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 10 and not task.done() and log == []
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    assert await task == "done"
    assert log[0][0] == "unit" and log[0][1] != threading.get_ident()


@pytest.mark.server_error("imap_store.store.group_commit", r"WAL fsync after a commit failed")
async def test_a_failed_wal_fsync_answers_an_error_and_runs_nothing_again(
        operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    await operator.add_bal("alice")
    writer, log = writer_of(operator), []
    before = await modseq(operator)
    watch_wal_syncs(monkeypatch, writer, log, fail=True)

    with pytest.raises(RuntimeError, match="could not be synced"):
        await writer.run(counting_unit(log), small=True)

    assert [what for what, _ in log] == ["unit", "sync"]  # run once, never again
    assert await modseq(operator) == before + 1  # committed: it may only be not durable
    monkeypatch.undo()
    assert await writer.run(counting_unit(log), small=True) == "done"


async def modseq(op: Operator) -> int:
    from sqlalchemy import text

    async with op.running.services.db.read() as s:  # type: ignore[union-attr]
        value = (await s.execute(text(
            "SELECT highestmodseq FROM folder WHERE id = (SELECT min(id) FROM folder)"))
        ).scalar_one()
    return int(value)
