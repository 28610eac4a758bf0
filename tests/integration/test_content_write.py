"""New message contents, large ones streamed by COPY on PostgreSQL (store/content_write.py).

Both ways in: a session's transaction (IMAP APPEND) and the group-commit
writer's (SMTP delivery).

Every column of a streamed row reads back as the ORM would have written it;
on PostgreSQL the large row never travels as an INSERT parameter; a streamed
row rolls back with its transaction; a large message APPENDed over IMAP reads
back byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from imap_store.store.content_write import PIECE, STREAM_ABOVE, add_contents
from imap_store.store.delivery import DeliveryPlan, LocalCopy, RemoteCopy
from imap_store.store.group_commit import _PgConn, _SqliteConn
from imap_store.store.models import MessageContent
from tests.protocol.imap_support import imaps, in_thread
from tests.support import Operator, is_postgres

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _row(bal_id: int, cid: str, size: int, *, mss_nil: str | None, meta: bytes | None
         ) -> MessageContent:
    return MessageContent(id=cid, bal_id=bal_id, key_version=3, size=size,
                          body=os.urandom(size), mss_nil=mss_nil, received_at=WHEN, meta=meta)


def _columns(row: MessageContent) -> tuple[Any, ...]:
    return (row.id, row.bal_id, row.key_version, row.size, bytes(row.body), row.mss_nil,
            row.received_at.astimezone(UTC), row.meta)


def _largest_insert_parameter(op: Operator) -> list[int]:
    """A list that receives, for each INSERT into `message_content` the write
    engine executes, the size of its largest bytes parameter."""
    assert op.running is not None
    seen: list[int] = []
    engine = op.running.services.db.write_engine.sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def _log(_c: Any, _cur: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "INSERT INTO message_content" not in statement:
            return
        rows = parameters if isinstance(parameters, list) else [parameters]
        values = [v for row in rows
                  for v in (row.values() if isinstance(row, dict) else row)]
        seen.append(max((len(v) for v in values if isinstance(v, bytes | memoryview)),
                        default=0))

    return seen


async def test_large_and_small_rows_read_back_column_by_column(operator: Operator) -> None:
    bal = operator.bals[await operator.add_bal("alice")].bal_id
    large = _row(bal, "a" * 32, STREAM_ABOVE + 3 * PIECE + 17, mss_nil="NIL-1", meta=b"m" * 70)
    nulls = _row(bal, "b" * 32, STREAM_ABOVE + 1, mss_nil=None, meta=None)
    small = _row(bal, "c" * 32, 100, mss_nil=None, meta=b"x")
    wanted = {r.id: _columns(r) for r in (large, nulls, small)}
    seen = _largest_insert_parameter(operator)
    assert operator.running is not None
    db = operator.running.services.db
    async with db.write() as s:
        await add_contents(s, [large, small, nulls])
    async with db.read() as s:
        rows = (await s.execute(select(MessageContent))).scalars().all()
        got = {r.id: _columns(r) for r in rows}
    assert got == wanted
    # PostgreSQL: the large bodies went by COPY, no INSERT carried one; SQLite: by INSERT.
    assert seen and (max(seen) <= 100 if is_postgres() else max(seen) == large.size)


async def test_a_streamed_row_rolls_back_with_its_transaction(operator: Operator) -> None:
    bal = operator.bals[await operator.add_bal("alice")].bal_id
    assert operator.running is not None
    db = operator.running.services.db
    with pytest.raises(RuntimeError, match="abandon"):
        async with db.write() as s:
            await add_contents(s, [_row(bal, "d" * 32, STREAM_ABOVE * 2, mss_nil=None,
                                        meta=None)])
            raise RuntimeError("abandon")
    async with db.read() as s:
        assert (await s.execute(select(MessageContent.id))).all() == []


async def test_a_large_append_reads_back_byte_for_byte(operator: Operator) -> None:
    address = await operator.add_bal("alice")
    body = os.urandom(3 * STREAM_ABOVE).hex().encode()
    lines = b"\r\n".join(body[i:i + 76] for i in range(0, len(body), 76))
    message = (b"From: " + address.encode() + b"\r\nSubject: large\r\n\r\n" + lines + b"\r\n")

    def append_and_read() -> bytes:
        client = imaps(operator, address)
        try:
            assert client.append("INBOX", None, None, message)[0] == "OK"
            client.select("INBOX")
            typ, data = client.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK"
            return bytes(data[0][1])
        finally:
            client.logout()

    assert await in_thread(append_and_read) == message


async def test_a_large_delivery_streams_through_the_writer(operator: Operator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The group-commit writer's transaction takes the large local and queued copies
    by COPY on PostgreSQL, through incremental blob I/O in pieces on SQLite (never
    as a bound parameter); both read back whole."""
    alice = operator.bals[await operator.add_bal("alice")].bal_id
    bob = await operator.add_bal("bob")
    assert operator.running is not None
    services = operator.running.services
    copied: list[int] = []
    real = _PgConn.copy_binary

    async def counting(self: _PgConn, table: str, columns: Sequence[str],
                       source: AsyncIterable[bytes]) -> None:
        async def pieces() -> AsyncIterator[bytes]:
            async for piece in source:
                copied.append(len(piece))
                yield piece
        await real(self, table, columns, pieces())

    monkeypatch.setattr(_PgConn, "copy_binary", counting)
    blobs: list[int] = []
    real_blob = _SqliteConn.insert_blob

    async def blob_pieces(self: _SqliteConn, sql: str, args: Sequence[object], blob: int,
                          table: str, column: str, piece: int) -> None:
        blobs.append(-(-len(args[blob]) // piece))  # type: ignore[arg-type]
        await real_blob(self, sql, args, blob, table, column, piece)

    monkeypatch.setattr(_SqliteConn, "insert_blob", blob_pieces)
    body = os.urandom(2 * STREAM_ABOVE).hex().encode()
    message = b"Subject: large\r\n\r\n" + b"\r\n".join(
        body[i:i + 76] for i in range(0, len(body), 76)) + b"\r\n"
    plan = DeliveryPlan("alice@op-a.mssante.fr", alice,
                        local=(LocalCopy(operator.bals[bob].bal_id, message),),
                        remote=(RemoteCopy("op-b.mssante.fr", ("x@op-b.mssante.fr",), message),))
    result = await services.delivery.commit(plan)
    assert len(result.local_uids) == 1 and len(result.queue_ids) == 1
    inbox = await services.mailbox.get_folder(operator.bals[bob].bal_id, "INBOX")
    assert inbox is not None
    assert await services.mailbox.fetch_message(operator.bals[bob].bal_id, inbox.id,
                                                result.local_uids[0][1]) == message
    async with services.db.read() as s:
        sizes = sorted((await s.execute(select(MessageContent.size))).scalars().all())
    assert sizes == [len(message), len(message)]
    if is_postgres():
        assert max(copied) == PIECE and sum(copied) > 2 * len(message)
        assert blobs == []
    else:
        assert copied == []
        assert len(blobs) == 2 and min(blobs) > 4  # two contents, each in pieces


async def test_a_streamed_content_lets_the_loop_run_between_its_pieces() -> None:
    """On loopback the socket takes every CopyData piece at once and asyncpg's wait for
    the transport then never yields: the stream itself gives the other sessions a turn
    after each piece of a body, so no loop step carries the whole content."""
    import asyncio

    from imap_store.store.content_write import _binary_rows

    pieces = 8
    row = _columns(_row(1, "d" * 32, pieces * PIECE, mss_nil=None, meta=None))
    turns = 0
    writing = True

    async def other_session() -> None:
        nonlocal turns
        while writing:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_session())
    await asyncio.sleep(0)
    seen = [turns async for _ in _binary_rows([row])]  # type: ignore[list-item]
    writing = False
    await ticker
    body = seen[2 : 2 + pieces]  # after the signature and the row's leading fields
    assert all(b > a for a, b in zip(body, body[1:], strict=False))
