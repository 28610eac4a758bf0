"""A selected mailbox is re-read only when it changed, and changes from other processes arrive.

NOOP on an unchanged mailbox runs no SQL at all; a change made by this process
is read incrementally (entries above the view's HIGHESTMODSEQ); a change
committed by another process (a real child process writing the same
database) reaches NOOP and IDLE within the folder watcher's 1 s interval.

Ref: RFC 3501 6.1.2 (NOOP), 7.4.1; RFC 2177 (IDLE); RFC 7162 3.1.2.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from imap_store.store.folder_ops import FolderError
from imap_store.store.mailbox import NewMessage
from imap_store.store.mailbox_sql import CHUNK, FOLDER_COLUMNS
from message.meta import compute_meta
from tests.protocol.imap_support import Raw, in_thread, numbered, seed
from tests.support import Operator

ROOT = Path(__file__).resolve().parents[2]
BACKGROUND = {"folder change watch", "trust-list poll", "login standing watch", "data key watch",
              "relay"}

# A separate process writing the same database through the store, as an admin
# verb or a second server process would: its own notifier, which this server
# never sees.
CHILD = """
import asyncio, sys
from pathlib import Path
from server import config
from server.storage import open_store
from imap_store.store.mailbox import MailboxStore, NewMessage
from imap_store.store.notify import ChangeNotifier

async def main(cfg_path, bal_id, action):
    cfg = config.load(Path(cfg_path))
    db, keys = open_store(cfg)
    store = MailboxStore(db, keys, ChangeNotifier())
    inbox = await store.get_folder(bal_id, "INBOX")
    if action == "append":
        raw = b"From: a@op-b.mssante.fr\\r\\nSubject: from elsewhere\\r\\n\\r\\nbody\\r\\n"
        await store.append(bal_id, "INBOX", [NewMessage(raw, frozenset(), None)])
    elif action == "flag":
        await store.set_flags(bal_id, inbox.id, [1], frozenset({"\\\\Flagged"}), "add")
    elif action == "expunge":
        await store.set_flags(bal_id, inbox.id, [2], frozenset({"\\\\Deleted"}), "add")
        await store.expunge(bal_id, inbox.id)
    await db.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


def _other_process(op: Operator, address: str, action: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", CHILD, str(op.directory / "mss.toml"),
                    str(op.bals[address].bal_id), action], check=True, env=env, timeout=60)


class _Recorded:
    """A unit's transaction that notes each statement it runs."""

    def __init__(self, tx: Any, seen: list[str] | None) -> None:
        self.tx, self.seen = tx, seen

    def _note(self, sql: str) -> None:
        if self.seen is not None:
            self.seen.append(sql)

    async def fetch(self, sql: str, *args: Any) -> Any:
        self._note(sql)
        return await self.tx.fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> Any:
        self._note(sql)
        return await self.tx.execute(sql, *args)

    async def executemany(self, sql: str, rows: Any) -> Any:
        self._note(sql)
        return await self.tx.executemany(sql, rows)


def _foreground() -> bool:
    """The server's own background polls are not a command's cost."""
    task = asyncio.current_task()
    return task is None or task.get_name() not in BACKGROUND


@contextmanager
def counted_statements(op: Operator) -> Iterator[list[str]]:
    """Every SQL statement the running server's sessions send while the block runs:
    through the engines (SQLAlchemy) and as units of the read pool and the writer."""
    assert op.running is not None
    db = op.running.services.db
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _foreground():
            seen.append(statement)

    def counting(run: Any) -> Any:
        async def counted(unit: Any, **options: Any) -> Any:
            target = seen if _foreground() else None
            return await run(lambda tx: unit(_Recorded(tx, target)), **options)
        return counted

    engines = {id(e.sync_engine): e.sync_engine for e in (db.read_engine, db.write_engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    db.reader.run, db.writer.run = counting(db.reader.run), counting(db.writer.run)
    try:
        yield seen
    finally:
        del db.reader.run, db.writer.run  # the class's methods again
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", record)


def _noop_until(client: Raw, marker: bytes, limit: float) -> tuple[float, list[bytes]]:
    """NOOP every 50 ms until an untagged line contains `marker`; the time it took."""
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < limit:
        n += 1
        lines = client.cmd(b"N%d" % n, b"NOOP")
        if any(marker in line for line in lines[:-1]):
            return time.monotonic() - start, lines
        time.sleep(0.05)
    raise AssertionError(f"{marker!r} not reported within {limit} s")


# The folder row by id and owner, nothing else (its columns are the store's).
MARKER_READ = f"SELECT {FOLDER_COLUMNS} FROM folder WHERE id = $1 AND bal_id = $2"


def only_marker_reads(seen: list[str], polls: int) -> None:
    """NOOP and CHECK read the selected folder's row (its committed marker) and
    nothing else when nothing changed: never an entry."""
    assert seen == [MARKER_READ] * polls, seen


async def test_noop_on_an_unchanged_mailbox_reads_only_the_folder_marker(
        operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(i) for i in range(1, 6)])
    client = await in_thread(Raw, operator, bob)
    assert (await in_thread(client.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    with counted_statements(operator) as seen:
        for i in range(20):
            lines = await in_thread(client.cmd, b"N%d" % i, b"NOOP")
            assert lines == [b"N%d OK NOOP completed" % i]
    only_marker_reads(seen, 20)
    client.close()


async def test_a_change_in_this_process_is_read_incrementally(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(i) for i in range(1, 41)])
    watcher, writer = await in_thread(Raw, operator, bob), await in_thread(Raw, operator, bob)
    for client in (watcher, writer):
        assert (await in_thread(client.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    assert (await in_thread(writer.cmd, b"F", b"STORE 7 +FLAGS (\\Flagged)"))[-1].startswith(
        b"F OK")
    await seed(operator, bob, "INBOX", [numbered(41)])
    with counted_statements(operator) as seen:
        lines = await in_thread(watcher.cmd, b"N", b"NOOP")
    # The watcher's session saw UID 7 first, so it is \Recent there.
    assert b"* 7 FETCH (UID 7 FLAGS (\\Flagged \\Recent))" in lines
    assert b"* 41 EXISTS" in lines
    # The changed entries only: none of the 39 unchanged rows is read again.
    entry_reads = [s for s in seen if "FROM mailbox_entry" in s and "modseq >" not in s
                   and "count(" not in s]
    assert entry_reads == [], entry_reads
    assert any("modseq >" in s for s in seen), seen  # the catch-up read itself was counted
    for client in (watcher, writer):
        client.close()


async def test_expunge_by_another_session_is_reported(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(i) for i in range(1, 6)],
               [frozenset({"\\Deleted"}) if i == 3 else frozenset() for i in range(1, 6)])
    watcher, writer = await in_thread(Raw, operator, bob), await in_thread(Raw, operator, bob)
    for client in (watcher, writer):
        await in_thread(client.cmd, b"S", b"SELECT INBOX")
    own = await in_thread(writer.cmd, b"E", b"EXPUNGE")
    assert own == [b"* 3 EXPUNGE", b"E OK EXPUNGE completed"]
    lines = await in_thread(watcher.cmd, b"N", b"NOOP")
    assert lines == [b"* 3 EXPUNGE", b"N OK NOOP completed"]
    assert (await in_thread(watcher.cmd, b"U", b"UID SEARCH ALL"))[0] == b"* SEARCH 1 2 4 5"
    for client in (watcher, writer):
        client.close()


async def _without_folder_watch(op: Operator) -> None:
    """Stop the server's folder change watch: only the sessions' own reads of the folder's
    marker can then see another process's commits (the moment before the watch polls)."""
    assert op.running is not None
    for task in list(op.running.services.background._tasks):
        if task.get_name() == "folder change watch":
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


async def test_expunge_and_store_report_what_another_process_did_first(
        operator: Operator) -> None:
    """imaptest's `expunge` script with the two sessions in two processes: the other
    session expunged first, so this session's own EXPUNGE changes nothing, or appended
    while this session's STORE changes nothing; the other's change is still reported
    with the reply."""
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(i) for i in range(1, 4)])
    await _without_folder_watch(operator)
    client = await in_thread(Raw, operator, bob)
    await in_thread(client.cmd, b"S", b"SELECT INBOX")
    await in_thread(_other_process, operator, bob, "append")  # UID 4
    lines = await in_thread(client.cmd, b"T", b"STORE 1 -FLAGS.SILENT (\\Answered)")
    assert lines == [b"* 4 EXISTS", b"* 4 RECENT", b"T OK STORE completed"], lines
    await in_thread(_other_process, operator, bob, "expunge")  # 2 \Deleted and expunged
    lines = await in_thread(client.cmd, b"E", b"EXPUNGE")
    assert lines == [b"* 2 EXPUNGE", b"E OK EXPUNGE completed"], lines
    assert (await in_thread(client.cmd, b"U", b"UID SEARCH ALL"))[0] == b"* SEARCH 1 3 4"
    client.close()


async def test_changes_from_another_process_reach_noop_within_a_second(
        operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(i) for i in range(1, 4)])
    client = await in_thread(Raw, operator, bob)
    await in_thread(client.cmd, b"S", b"SELECT INBOX")
    for action, marker in (("append", b"* 4 EXISTS"),
                           ("flag", b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"),
                           ("expunge", b"* 2 EXPUNGE")):
        await in_thread(_other_process, operator, bob, action)
        elapsed, _ = await in_thread(_noop_until, client, marker, 5.0)
        assert elapsed < 1.5, (action, elapsed)
    assert (await in_thread(client.cmd, b"U", b"UID SEARCH ALL"))[0] == b"* SEARCH 1 3 4"
    client.close()


async def test_idle_wakes_for_another_process_within_a_second(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(1)])
    client = await in_thread(Raw, operator, bob)
    await in_thread(client.cmd, b"S", b"SELECT INBOX")
    await in_thread(client.send, b"I IDLE\r\n")
    assert (await in_thread(client.line)).startswith(b"+ ")
    await in_thread(_other_process, operator, bob, "append")
    start = time.monotonic()
    line = await asyncio.wait_for(in_thread(client.line), 5)
    assert line == b"* 2 EXISTS"
    assert time.monotonic() - start < 1.5
    await in_thread(client.send, b"DONE\r\n")
    lines = await in_thread(client.until_tagged, b"I")
    assert lines[-1].startswith(b"I OK")
    client.close()


async def test_watch_is_released_when_sessions_end(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    assert operator.running is not None
    notifier = operator.running.services.mailbox.notifier
    first, second = await in_thread(Raw, operator, bob), await in_thread(Raw, operator, bob)
    for client in (first, second):
        await in_thread(client.cmd, b"S", b"SELECT INBOX")
    assert [w.holders for w in notifier.watched().values()] == [2]
    await in_thread(first.cmd, b"C", b"CLOSE")
    assert [w.holders for w in notifier.watched().values()] == [1]
    second.close()
    for _ in range(100):
        if not notifier.watched():
            break
        await asyncio.sleep(0.02)
    assert notifier.watched() == {}
    first.close()


async def _two_selected(op: Operator, count: int) -> tuple[str, Raw, Raw]:
    """A BAL with `count` messages in its INBOX, and two sessions of it that selected it."""
    bob = await op.add_bal("bob")
    await seed(op, bob, "INBOX", [numbered(i) for i in range(1, count + 1)])
    first, second = await in_thread(Raw, op, bob), await in_thread(Raw, op, bob)
    for client in (first, second):
        assert (await in_thread(client.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    return bob, first, second


async def test_this_process_own_change_is_not_reported_twice(operator: Operator) -> None:
    bob, watcher, writer = await _two_selected(operator, 5)
    await in_thread(writer.cmd, b"F", b"STORE 2 +FLAGS (\\Seen)")
    await seed(operator, bob, "INBOX", [numbered(6)])
    assert b"* 6 EXISTS" in await in_thread(watcher.cmd, b"N", b"NOOP")
    await in_thread(writer.cmd, b"N", b"NOOP")
    await asyncio.sleep(2.2)  # two polls of the folder watcher
    with counted_statements(operator) as seen:
        for client in (watcher, writer):
            assert await in_thread(client.cmd, b"M", b"NOOP") == [b"M OK NOOP completed"]
    only_marker_reads(seen, 2)
    for client in (watcher, writer):
        client.close()


async def test_catch_up_reads_refuse_another_bals_folder(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await seed(operator, alice, "INBOX", [numbered(1)])
    assert operator.running is not None
    store = operator.running.services.mailbox
    a_id, b_id = operator.bals[alice].bal_id, operator.bals[bob].bal_id
    inbox = await store.get_folder(a_id, "INBOX")
    assert inbox is not None
    assert (await store.changes_since(a_id, inbox.id, 0))[2] == 1
    for call in (store.changes_since(b_id, inbox.id, 0), store.uids(b_id, inbox.id),
                 store.details(b_id, inbox.id, [1]), store.fetch_messages(b_id, inbox.id, [1]),
                 store.fetch_meta(b_id, inbox.id, [1]), store.details(b_id, inbox.id, [])):
        with pytest.raises(FolderError):
            await call


async def test_entry_reads_are_one_statement_with_their_folder(operator: Operator) -> None:
    """The reads FETCH and the refresh make (details, metas, bodies, the changes since a
    MODSEQ) check the folder in the statement that reads its entries; up to one IN list,
    that is the unit's only statement. The owner gets what exists, nothing for a UID
    not there or an empty list, and each entry once."""
    alice = await operator.add_bal("alice")
    await seed(operator, alice, "INBOX", [numbered(i) for i in range(1, 4)])
    assert operator.running is not None
    store = operator.running.services.mailbox
    a_id = operator.bals[alice].bal_id
    inbox = await store.get_folder(a_id, "INBOX")
    assert inbox is not None
    with counted_statements(operator) as seen:
        details = await store.details(a_id, inbox.id, [3, 1, 9])
        metas = await store.fetch_meta(a_id, inbox.id, [2, 9])
        bodies = await store.fetch_messages(a_id, inbox.id, [1, 3])
        nothing = await store.details(a_id, inbox.id, [])
        folder, changed, count = await store.changes_since(a_id, inbox.id, 0)
    assert sorted(details) == [1, 3] and sorted(metas) == [2] and sorted(bodies) == [1, 3]
    assert b"Subject: Message 1" in bodies[1] and nothing == {}
    assert [m.uid for m in changed] == [1, 2, 3] and count == 3 and folder.id == inbox.id
    entry_reads = [s for s in seen if "mailbox_entry" in s]
    # each read is its folder's check too (run as `single`: a second statement would
    # raise SingleStatementError)
    assert len(entry_reads) == 5 and all("f.bal_id" in s for s in entry_reads), seen


async def test_entry_reads_beyond_one_in_list_read_every_entry(operator: Operator) -> None:
    """More UIDs than one IN list holds (`mailbox_sql.CHUNK`): the first list goes with
    the folder's check, the rest follow in the same transaction; every entry once, in
    UID order, for details, metas, bodies and a STORE."""
    alice = await operator.add_bal("alice")
    total = CHUNK + 3
    await seed(operator, alice, "INBOX", [numbered(i) for i in range(1, total + 1)])
    assert operator.running is not None
    store = operator.running.services.mailbox
    a_id = operator.bals[alice].bal_id
    inbox = await store.get_folder(a_id, "INBOX")
    assert inbox is not None
    everything = list(range(total, 0, -1))
    assert list(await store.details(a_id, inbox.id, everything)) == sorted(everything)
    assert sorted(await store.fetch_meta(a_id, inbox.id, everything)) == sorted(everything)
    assert sorted(await store.fetch_messages(a_id, inbox.id, everything)) == sorted(everything)
    rows = await store.set_flags(a_id, inbox.id, everything, frozenset({"\\Flagged"}), "add")
    assert [r.uid for r in rows] == sorted(everything)
    assert all("\\Flagged" in r.flags for r in rows)


def _catch_up_reads(seen: list[str]) -> list[str]:
    """Reads of the selected folder after a command: the changes since a MODSEQ, the
    folder's marker (the poll), its UIDs."""
    return [s for s in seen if "modseq >" in s or s == MARKER_READ
            or s.startswith("SELECT uid FROM mailbox_entry")]


async def test_own_writes_are_not_read_back(operator: Operator) -> None:
    """After this session's own STORE, FETCH BODY[] (\\Seen), APPEND into the selected
    folder and EXPUNGE (with something to remove or not), the view takes what the write
    recorded: no catch-up read, no marker poll, and the replies are those a read back
    would have produced. Another session of the same BAL then reads those changes."""
    _, client, other = await _two_selected(operator, 3)
    message = numbered(4)
    with counted_statements(operator) as seen:
        stored = await in_thread(client.cmd, b"T", b"STORE 1 +FLAGS (\\Flagged)")
        body = await in_thread(client.cmd, b"B", b"FETCH 2 (BODY[])")
        appended = await in_thread(client.cmd, b"A", b"APPEND INBOX {%d+}\r\n" % len(message)
                                   + message)
        flagged = await in_thread(client.cmd, b"D", b"STORE 3 +FLAGS.SILENT (\\Deleted)")
        expunged = await in_thread(client.cmd, b"E", b"EXPUNGE")
        nothing = await in_thread(client.cmd, b"X", b"EXPUNGE")
        searched = await in_thread(client.cmd, b"U", b"UID SEARCH ALL")
    assert _catch_up_reads(seen) == [], seen
    # this session selected first: 1 to 3 are \Recent here
    assert stored == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))", b"T OK STORE completed"]
    assert body[0].startswith(b"* 2 FETCH (BODY[] {") and body[0].endswith(
        b"Body 2\r\n FLAGS (\\Recent \\Seen))"), body
    assert body[1:] == [b"B OK FETCH completed"]
    assert appended[:2] == [b"* 4 EXISTS", b"* 4 RECENT"], appended
    assert flagged == [b"D OK STORE completed"]
    assert expunged == [b"* 3 EXPUNGE", b"E OK EXPUNGE completed"]
    assert nothing == [b"X OK EXPUNGE completed"]
    assert searched[0] == b"* SEARCH 1 2 4"
    # the other session of the BAL in this process reads what it did not write
    lines = await in_thread(other.cmd, b"N", b"NOOP")
    assert b"* 3 EXPUNGE" in lines and b"* 3 EXISTS" in lines, lines
    flags = await in_thread(other.cmd, b"F", b"FETCH 1:* (FLAGS)")
    assert flags[:3] == [b"* 1 FETCH (FLAGS (\\Flagged))", b"* 2 FETCH (FLAGS (\\Seen))",
                         b"* 3 FETCH (FLAGS ())"], flags
    for session in (client, other):
        session.close()


async def test_own_write_after_another_sessions_change_reads_it(operator: Operator) -> None:
    """When another session of this process changed the folder first, this session's
    own write does not stand for a read: its reply reports the other change too."""
    _, client, other = await _two_selected(operator, 2)
    await in_thread(other.cmd, b"F", b"STORE 2 +FLAGS (\\Answered)")
    message = numbered(3)
    await in_thread(other.cmd, b"A", b"APPEND INBOX {%d+}\r\n" % len(message) + message)
    lines = await in_thread(client.cmd, b"T", b"STORE 1 +FLAGS (\\Flagged)")
    assert b"* 3 EXISTS" in lines, lines
    assert b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))" in lines, lines
    assert lines[-1] == b"T OK STORE completed"
    for session in (client, other):
        session.close()


async def test_fetch_after_append_finds_the_meta_it_stored(operator: Operator) -> None:
    """APPEND leaves the meta it sealed decoded in the process (`MetaReader.remember`):
    the first FETCH of the message returns that very value, read back through the
    folder's check like any other, and decrypts nothing."""
    alice = await operator.add_bal("alice")
    assert operator.running is not None
    store = operator.running.services.mailbox
    a_id = operator.bals[alice].bal_id
    raw = numbered(1)
    meta = compute_meta(raw)
    result = await store.append(a_id, "INBOX", [NewMessage(raw, meta=meta)])
    inbox = await store.get_folder(a_id, "INBOX")
    assert inbox is not None
    metas = await store.fetch_meta(a_id, inbox.id, list(result.uids))
    assert metas == {result.uids[0]: meta} and metas[result.uids[0]] is meta
