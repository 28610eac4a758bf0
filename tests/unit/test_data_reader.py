"""The sans-I/O DATA reader: end of data, dot-stuffing, limits, whatever the cuts.

Ref: RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from smtp_gateway.data_reader import DataAssembler, DataVerdict, read_data

NEXT = b"MAIL FROM:<a@b.test>\r\n"

# (stream up to and including the final ".\r\n", content after unstuffing)
ENDS = [
    (b".\r\n", b""),
    (b"a\r\n.\r\n", b"a\r\n"),
    (b"\r\n.\r\n", b"\r\n"),
    (b"..\r\n.\r\n", b".\r\n"),
    (b"...\r\n.\r\n", b"..\r\n"),
    (b".a\r\n..b\r\nc.\r\n.\r\n", b"a\r\n.b\r\nc.\r\n"),
    (b"a\r\n. x\r\n.\r\n", b"a\r\n x\r\n"),
    (b"x\n.\r\n.\r\n", b"x\n.\r\n"),
    (b"a\r.\r\n.\r\n", b"a\r.\r\n"),
    (b"a.\r\nb.\r\n.\r\n", b"a.\r\nb.\r\n"),
    (b"\r\n\r\n..\r\n\r\n.\r\n", b"\r\n\r\n.\r\n\r\n"),
    (b"A" * 998 + b"\r\n.\r\n", b"A" * 998 + b"\r\n"),
    (b"." + b"A" * 997 + b"\r\n.\r\n", b"A" * 997 + b"\r\n"),
]


def cuts(stream: bytes) -> Iterator[list[bytes]]:
    """The stream whole, octet by octet, and cut in two at every place."""
    yield [stream]
    yield [stream[i:i + 1] for i in range(len(stream))]
    for i in range(1, len(stream)):
        yield [stream[:i], stream[i:]]


def run(pieces: list[bytes], max_size: int | None = None) -> tuple[DataAssembler, int]:
    assembler, used = DataAssembler(max_size), 0
    for piece in pieces:
        used += assembler.feed(piece)
    return assembler, used


@pytest.mark.parametrize(("stream", "content"), ENDS)
def test_end_and_unstuffing_whatever_the_cuts(stream: bytes, content: bytes) -> None:
    for pieces in cuts(stream + NEXT):
        assembler, used = run(pieces)
        assert assembler.done and used == len(stream), pieces
        assert assembler.verdict is DataVerdict.NOMINAL
        assert b"".join(assembler.content()) == content, pieces


@pytest.mark.parametrize("stream", [b"", b"a\r\n", b"a\r\n.", b"a\r\n.\r", b"a\n.\r\n",
                                    b"a.\r\n", b" .\r\n", b"a\r\n..\r\n"])
def test_no_end_yet(stream: bytes) -> None:
    assembler, used = run([stream])
    assert not assembler.done and used == len(stream)
    with pytest.raises(RuntimeError):
        assembler.content()


# (stream, max_size, verdict): a line counts with its CRLF and its stuffing dot;
# the size counts every octet sent before the final ".\r\n".
LIMITS = [
    (b"A" * 998 + b"\r\n.\r\n", None, DataVerdict.NOMINAL),
    (b"A" * 999 + b"\r\n.\r\n", None, DataVerdict.TOO_LONG),
    (b"." + b"A" * 998 + b"\r\n.\r\n", None, DataVerdict.TOO_LONG),
    (b"ok\r\n" + b"A" * 5000 + b"\r\nok\r\n.\r\n", None, DataVerdict.TOO_LONG),
    (b"A" * 5000 + b"\r\n.\r\n", None, DataVerdict.TOO_LONG),
    (b"A" * 5000 + b"\r.\r\n.\r\n", None, DataVerdict.TOO_LONG),
    (b"abc\r\n.\r\n", 5, DataVerdict.NOMINAL),
    (b"abc\r\n.\r\n", 4, DataVerdict.TOO_BIG),
    (b"..\r\n.\r\n", 4, DataVerdict.NOMINAL),
    (b"..\r\n.\r\n", 3, DataVerdict.TOO_BIG),
    (b"abc\r\n" + b"A" * 2000 + b"\r\n.\r\n", 4, DataVerdict.TOO_BIG),
    (b"A" * 2000 + b"\r\nabc\r\n.\r\n", 4, DataVerdict.TOO_LONG),
    (b"A" * 2000 + b"\r\n.\r\n", 4, DataVerdict.TOO_LONG),
    ((b"B" * 76 + b"\r\n") * 100 + b".\r\n", 7800, DataVerdict.NOMINAL),
    ((b"B" * 76 + b"\r\n") * 100 + b".\r\n", 7799, DataVerdict.TOO_BIG),
]


@pytest.mark.parametrize(("stream", "max_size", "verdict"), LIMITS)
def test_limits_are_judged_after_reading_to_the_end(stream: bytes, max_size: int | None,
                                                    verdict: DataVerdict) -> None:
    for pieces in [[stream], [stream[i:i + 1] for i in range(len(stream))],
                   [stream[i:i + 7] for i in range(0, len(stream), 7)],
                   [stream[:-2], stream[-2:] + NEXT]]:
        assembler, used = run(pieces, max_size)
        assert assembler.done and used == len(stream)
        assert assembler.verdict is verdict
        if verdict is not DataVerdict.NOMINAL:
            assert assembler.pieces == []


def test_memory_stays_bounded_past_a_limit() -> None:
    assembler = DataAssembler(1000)
    for _ in range(200):
        assembler.feed(b"C" * 10_000)
    assert assembler.verdict is DataVerdict.TOO_LONG
    assert assembler.pieces == [] and len(assembler._carry) <= 4
    assert assembler.feed(b"\r\n.\r\n" + NEXT) == 5 and assembler.done


def test_feed_after_the_end_takes_nothing() -> None:
    assembler, _ = run([b".\r\n"])
    assert assembler.feed(NEXT) == 0


def _reader_with(data: bytes, limit: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


@pytest.mark.parametrize("limit", [8, 64, 1 << 20])
async def test_read_data_leaves_the_next_command_in_the_reader(limit: int) -> None:
    body = b"".join(b".line %d .\r\n" % i for i in range(300)) + b"A" * 700 + b"\r\n"
    reader = _reader_with(body + b".\r\n" + NEXT, limit)
    assembler = DataAssembler(None)
    await read_data(reader, assembler)
    assert b"".join(assembler.content()) == body.replace(b"\r\n.", b"\r\n")[1:]
    assert await reader.read() == NEXT


async def test_read_data_raises_at_eof_before_the_end() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await read_data(_reader_with(b"a\r\nb\r\n", 64), DataAssembler(None))
