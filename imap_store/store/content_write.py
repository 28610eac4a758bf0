"""Inserting sealed message contents, large ones streamed in pieces on PostgreSQL.

Owns: `add_contents(session, rows)` (a session's transaction: IMAP APPEND) and
`insert_contents(tx, values)` (a group-commit writer transaction: SMTP
delivery, local and queued copies), the two ways new `message_content` rows
are written, and `STREAM_ABOVE`, the size from which a content is streamed.

Why: an INSERT hands its parameters to asyncpg whole. For a 25 MB sealed body
the driver copies the value into its message buffer and the socket transport
copies what the socket does not take at once into its own, both on the event
loop: one step of 15 to 25 ms during which no other session is served. On
PostgreSQL a content above `STREAM_ABOVE` octets is therefore written with
`COPY message_content (...) FROM STDIN (FORMAT binary)` fed from an
asynchronous iterator of `PIECE`-sized pieces: asyncpg sends each piece as
one CopyData message and waits for the transport to drain before taking the
next. That wait does not yield when the socket took the whole piece (on
loopback it takes every piece at once: 25 MB in one loop step of 20 to 30 ms),
so the iterator itself lets the loop run after each piece: no loop step is
proportional to the message.

Invariants:
- the COPY runs on the transaction's own connection, inside it (a session's
  transaction is started first if it was not), so a streamed content
  commits or rolls back with the rest of the delivery, exactly like an
  INSERT; the stream is made anew at each call, so a writer unit run again
  alone after a failed batch streams again;
- the binary row carries every column a `MessageContent` INSERT would, with
  the types of the schema (varchar, bigint, integer, bytea, timestamptz), and
  NULL where the row has none; a test reads each column back;
- SQLite's writer (its own thread, away from the loop) inserts a content
  above `STREAM_ABOVE` with a zeroblob of its size and then writes it in
  `PIECE`-sized pieces through incremental blob I/O, in the same
  transaction: binding it as a parameter would copy it whole while holding
  the GIL (5 to 13 ms for 25 MB, the event loop waiting); a session's
  transaction (`add_contents` on SQLite) and every content up to
  `STREAM_ABOVE` take the ordinary INSERT.

Ref: PostgreSQL documentation, COPY, "Binary Format"; RFC 5321 6.1 (a message
is stored whole or not at all).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .group_commit import WriteTx
from .models import MessageContent

STREAM_ABOVE = 1024 * 1024
PIECE = 256 * 1024

COLUMNS = ("id", "bal_id", "key_version", "size", "body", "mss_nil", "received_at", "meta")

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NULL = struct.pack("!i", -1)

ContentValues = tuple[Any, ...]
"""A content row as `COLUMNS` values: id, bal_id, key_version, size, body,
mss_nil, received_at, meta."""


@runtime_checkable
class BlobTx(Protocol):
    """A writer transaction that can write a value after its row (SQLite's)."""

    async def insert_blob(self, sql: str, args: Sequence[object], blob: int, table: str,
                          column: str, piece: int) -> None: ...


@runtime_checkable
class CopyTx(Protocol):
    """A writer transaction that can take a binary COPY (PostgreSQL's)."""

    async def copy_binary(self, table: str, columns: Sequence[str],
                          source: AsyncIterable[bytes]) -> None: ...


async def insert_contents(tx: WriteTx, insert_sql: str, values: Sequence[ContentValues]) -> None:
    """Write content rows in a writer transaction: `insert_sql` (parameters in
    `COLUMNS` order) for the small ones; the large ones by a streamed COPY
    (PostgreSQL's `CopyTx`) or written after their row in pieces (SQLite's `BlobTx`),
    by the same INSERT otherwise."""
    streamed = [v for v in values if v[3] > STREAM_ABOVE]
    small = [v for v in values if v[3] <= STREAM_ABOVE]
    if streamed and isinstance(tx, CopyTx):
        await tx.copy_binary("message_content", COLUMNS, _binary_rows(streamed))
    elif streamed and isinstance(tx, BlobTx):
        for row in streamed:
            await tx.insert_blob(insert_sql, row, COLUMNS.index("body"), "message_content",
                                 "body", PIECE)
    else:
        small += streamed
    if small:
        await tx.executemany(insert_sql, small)


async def add_contents(s: AsyncSession, rows: Sequence[MessageContent]) -> None:
    """Add `rows` to the session's transaction and flush them (streamed when large)."""
    stream = _is_postgres(s)
    streamed = [r for r in rows if stream and r.size > STREAM_ABOVE]
    small = [r for r in rows if not (stream and r.size > STREAM_ABOVE)]
    if streamed:
        await _copy_rows(s, [_values(r) for r in streamed])
    s.add_all(small)
    await s.flush()


def _is_postgres(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _values(row: MessageContent) -> ContentValues:
    return (row.id, row.bal_id, row.key_version, row.size, row.body, row.mss_nil,
            row.received_at, row.meta)


async def _copy_rows(s: AsyncSession, rows: Sequence[ContentValues]) -> None:
    conn = await s.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        await conn.execute(text("SELECT 1"))
    await driver.copy_to_table("message_content", source=_binary_rows(rows),
                               columns=list(COLUMNS), format="binary")


async def _binary_rows(rows: Sequence[ContentValues]) -> AsyncIterator[bytes]:
    """The binary COPY stream of `rows`: header, one tuple each, trailer; bodies
    in pieces of at most `PIECE` octets."""
    yield _SIGNATURE
    for cid, bal_id, key_version, size, body, mss_nil, received_at, meta in rows:
        yield (struct.pack("!h", len(COLUMNS)) + _field(cid.encode())
               + _field(struct.pack("!q", bal_id)) + _field(struct.pack("!i", key_version))
               + _field(struct.pack("!q", size)) + struct.pack("!i", len(body)))
        view = memoryview(body)
        for start in range(0, len(view), PIECE):
            yield bytes(view[start:start + PIECE])
            await asyncio.sleep(0)  # the other sessions' turn, whatever the socket took
        yield _field_bytes(None if mss_nil is None else mss_nil.encode())
        yield _field(struct.pack("!q", _pg_micros(received_at)))
        yield _field_bytes(meta)
    yield _TRAILER


def _field(value: bytes) -> bytes:
    return struct.pack("!i", len(value)) + value


def _field_bytes(value: bytes | None) -> bytes:
    return _NULL if value is None else _field(value)


def _pg_micros(when: datetime) -> int:
    """Microseconds since PostgreSQL's epoch, the binary form of a timestamptz."""
    return (when.astimezone(UTC) - _PG_EPOCH) // timedelta(microseconds=1)
