"""The binary COPY stream of large contents (store/content_write.py), read back by a
decoder written from PostgreSQL's description of the format ("Binary Format" of COPY):
signature, flags, header extension, then per tuple a field count and length-prefixed
fields (-1 for NULL), then the -1 trailer. Also which rows a writer transaction that
takes a COPY streams, and which it inserts."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterable, Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone

from imap_store.store.content_write import (
    COLUMNS,
    PIECE,
    STREAM_ABOVE,
    ContentValues,
    _binary_rows,
    insert_contents,
)

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _decode(stream: bytes) -> list[list[bytes | None]]:
    assert stream[:11] == b"PGCOPY\n\xff\r\n\x00"
    flags, ext = struct.unpack("!ii", stream[11:19])
    assert (flags, ext) == (0, 0)
    pos, rows = 19, []
    while True:
        (count,) = struct.unpack("!h", stream[pos:pos + 2])
        pos += 2
        if count == -1:
            assert pos == len(stream)
            return rows
        fields: list[bytes | None] = []
        for _ in range(count):
            (size,) = struct.unpack("!i", stream[pos:pos + 4])
            pos += 4
            if size == -1:
                fields.append(None)
            else:
                fields.append(stream[pos:pos + size])
                pos += size
        rows.append(fields)


async def _pieces(rows: Sequence[ContentValues]) -> list[bytes]:
    return [piece async for piece in _binary_rows(rows)]


def test_rows_decode_to_their_columns_with_nulls_and_pieces() -> None:
    body = bytes(range(256)) * (3 * PIECE // 256) + b"tail"
    when = datetime(2026, 3, 4, 6, 6, 7, 890123, tzinfo=timezone(timedelta(hours=1)))
    rows = [("a" * 32, 7, 2, len(body), body, "NIL-1", when, b"meta"),
            ("b" * 32, 2**40, 1, 3, b"abc", None, EPOCH, None)]
    pieces = asyncio.run(_pieces(rows))
    assert max(len(p) for p in pieces) == PIECE  # no piece larger than PIECE
    decoded = _decode(b"".join(pieces))
    assert len(COLUMNS) == 8 and [len(r) for r in decoded] == [8, 8]
    first, second = decoded
    assert first[0] == b"a" * 32 and first[4] == body and first[5] == b"NIL-1"
    assert struct.unpack("!q", first[1] or b"") == (7,)
    assert struct.unpack("!i", first[2] or b"") == (2,)
    assert struct.unpack("!q", first[3] or b"") == (len(body),)
    micros = struct.unpack("!q", first[6] or b"")[0]
    assert EPOCH + timedelta(microseconds=micros) == when  # UTC 05:06:07.890123
    assert first[7] == b"meta"
    assert struct.unpack("!q", second[1] or b"") == (2**40,)
    assert second[5] is None and second[7] is None
    assert struct.unpack("!q", second[6] or b"") == (0,)


class _CopyingTx:
    """A writer transaction that takes a COPY: records what it is given."""

    def __init__(self) -> None:
        self.copied: list[bytes] = []
        self.inserted: list[Sequence[object]] = []

    async def copy_binary(self, table: str, columns: Sequence[str],
                          source: AsyncIterable[bytes]) -> None:
        assert table == "message_content" and tuple(columns) == COLUMNS
        self.copied.append(b"".join([piece async for piece in source]))

    async def fetch(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        raise AssertionError("not used")

    async def execute(self, sql: str, *args: object) -> None:
        raise AssertionError("not used")

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.inserted.extend(rows)


def test_a_copying_transaction_streams_only_the_large_rows() -> None:
    large = ("l" * 32, 1, 1, STREAM_ABOVE + 1, b"x" * (STREAM_ABOVE + 1), None, EPOCH, None)
    small = ("s" * 32, 1, 1, STREAM_ABOVE, b"y" * STREAM_ABOVE, None, EPOCH, None)
    tx = _CopyingTx()
    asyncio.run(insert_contents(tx, "INSERT", [small, large]))
    assert tx.inserted == [small]
    assert [row[0] for row in _decode(tx.copied[0])] == [b"l" * 32]
