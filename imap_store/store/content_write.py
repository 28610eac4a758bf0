"""Inserting sealed message contents, large ones streamed in pieces on PostgreSQL.

Owns: `add_contents(session, rows)`, the one way new `message_content` rows
enter a write transaction (delivery's local and queued copies, IMAP APPEND),
and `STREAM_ABOVE`, the size from which a content is streamed.

Why: an INSERT hands its parameters to asyncpg whole. For a 25 MB sealed body
the driver copies the value into its message buffer and the socket transport
copies what the socket does not take at once into its own, both on the event
loop: one step of 15 to 25 ms during which no other session is served. On
PostgreSQL a content above `STREAM_ABOVE` octets is therefore written with
`COPY message_content (...) FROM STDIN (FORMAT binary)` fed from an
asynchronous iterator of `PIECE`-sized pieces: asyncpg sends each piece as
one CopyData message and waits for the transport to drain before taking the
next, so no loop step is proportional to the message.

Invariants:
- the COPY runs on the session's own connection, inside its transaction
  (started first if it was not), so a streamed content commits or rolls
  back with the rest of the delivery, exactly like an INSERT;
- the binary row carries every column a `MessageContent` INSERT would, with
  the types of the schema (varchar, bigint, integer, bytea, timestamptz), and
  NULL where the row has none; a test reads each column back;
- SQLite (whose driver runs in its own thread, away from the loop) and every
  content up to `STREAM_ABOVE` take the ordinary ORM insert.

Ref: PostgreSQL documentation, COPY, "Binary Format"; RFC 5321 6.1 (a message
is stored whole or not at all).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .models import MessageContent

STREAM_ABOVE = 1024 * 1024
PIECE = 256 * 1024

COLUMNS = ("id", "bal_id", "key_version", "size", "body", "mss_nil", "received_at", "meta")

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NULL = struct.pack("!i", -1)


async def add_contents(s: AsyncSession, rows: Sequence[MessageContent]) -> None:
    """Add `rows` to the session's transaction and flush them (streamed when large)."""
    stream = _is_postgres(s)
    streamed = [r for r in rows if stream and r.size > STREAM_ABOVE]
    small = [r for r in rows if not (stream and r.size > STREAM_ABOVE)]
    if streamed:
        await _copy_rows(s, streamed)
    s.add_all(small)
    await s.flush()


def _is_postgres(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


async def _copy_rows(s: AsyncSession, rows: Sequence[MessageContent]) -> None:
    conn = await s.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        await conn.execute(text("SELECT 1"))
    await driver.copy_to_table("message_content", source=_binary_rows(rows),
                               columns=list(COLUMNS), format="binary")


async def _binary_rows(rows: Sequence[MessageContent]) -> AsyncIterator[bytes]:
    """The binary COPY stream of `rows`: header, one tuple each, trailer; bodies
    in pieces of at most `PIECE` octets."""
    yield _SIGNATURE
    for row in rows:
        yield _tuple_head(row) + struct.pack("!i", len(row.body))
        body = memoryview(row.body)
        for start in range(0, len(body), PIECE):
            yield bytes(body[start:start + PIECE])
        yield _field_bytes(None if row.mss_nil is None else row.mss_nil.encode())
        yield _field(struct.pack("!q", _pg_micros(row.received_at)))
        yield _field_bytes(row.meta)
    yield _TRAILER


def _tuple_head(row: MessageContent) -> bytes:
    """Field count and the fields before the body (whose length follows)."""
    return (struct.pack("!h", len(COLUMNS))
            + _field(row.id.encode())
            + _field(struct.pack("!q", row.bal_id))
            + _field(struct.pack("!i", row.key_version))
            + _field(struct.pack("!q", row.size)))


def _field(value: bytes) -> bytes:
    return struct.pack("!i", len(value)) + value


def _field_bytes(value: bytes | None) -> bytes:
    return _NULL if value is None else _field(value)


def _pg_micros(when: datetime) -> int:
    """Microseconds since PostgreSQL's epoch, the binary form of a timestamptz."""
    return (when.astimezone(UTC) - _PG_EPOCH) // timedelta(microseconds=1)
