"""The SMTP DATA reader: the octets after `354` up to `<CRLF>.<CRLF>`, in large steps.

`DataAssembler` is sans-I/O: it takes the data stream in pieces of any size
and cut, finds its end, removes dot-stuffing and checks the limits, with
byte operations over whole pieces (no Python loop per line). `read_data`
feeds it from an asyncio `StreamReader`.

Invariants:
- The end is a line that is only "." (RFC 5321 4.1.1.4): `.<CRLF>` as the
  first line, or `<CRLF>.<CRLF>`, wherever the pieces are cut. `feed` returns
  how many octets belonged to the data; `read_data` takes no octet after the
  end from the reader (a pipelined command stays there for the command loop).
- The leading "." of every line is removed (4.5.2); the content is the lines
  with their CRLFs, without the final `.<CRLF>`.
- A line of more than `max_line` octets with its CRLF (4.5.3.1.6, counted as
  sent, before the dot is removed) gives `TOO_LONG`; more than `max_size`
  octets of data (counted as sent, dots and CRLFs included, the final
  `.<CRLF>` excluded) gives `TOO_BIG`; the first of the two in the stream is
  kept. From then on nothing is kept, and the data is still read to its end
  (the reply comes after it, 4.2.5).
- Memory: the kept lines (at most `max_size` octets), one incomplete line
  (under `max_line` octets), and the piece being fed.
- `read_data` lets the event loop run after every `STEP` octets it took
  without waiting: no loop step handles more than `STEP` + `READ_LIMIT` octets.

Ref: RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6, 4.2.5.
"""

from __future__ import annotations

import asyncio
import enum
from bisect import bisect_right
from itertools import accumulate

from imap_store.store.offload import by_size

MAX_LINE = 1000
READ_LIMIT = 128 * 1024
STEP = 128 * 1024
_END = b"\r\n.\r\n"
_CRLF = b"\r\n"


class DataVerdict(enum.Enum):
    NOMINAL = "nominal"
    TOO_LONG = "line too long"
    TOO_BIG = "too much data"


class DataAssembler:
    """One DATA stream: feed it pieces until `done`, then read `pieces` or `verdict`."""

    def __init__(self, max_size: int | None, max_line: int = MAX_LINE) -> None:
        self.max_size = max_size
        self.max_line = max_line
        self.pieces: list[bytes] = []
        self.size = 0
        self.verdict = DataVerdict.NOMINAL
        self.done = False
        self._carry = b""  # the current incomplete line, from its first octet
        self._line_start = True  # whether `_carry` starts at the start of a line

    def feed(self, data: bytes) -> int:
        """Take octets of the stream; return how many belong to the data (all, until the end)."""
        if self.done:
            return 0
        text, before = self._carry + data, len(self._carry)
        end = self._find_end(text)
        if end < 0:
            last = text.rfind(_CRLF)
            cut = last + 2 if last >= 0 else 0
            self._take(text[:cut] if cut else b"")
            self._keep_carry(text[cut:], at_line_start=cut > 0 or self._line_start)
            return len(data)
        self._take(text[:end])
        self._carry, self.done = b"", True
        return end + 3 - before

    def content(self) -> list[bytes]:
        """The unstuffed pieces of a NOMINAL data, in order (join them for the message)."""
        if not self.done or self.verdict is not DataVerdict.NOMINAL:
            raise RuntimeError("the data is not complete and within its limits")
        return self.pieces

    def _find_end(self, text: bytes) -> int:
        """Where the final `.<CRLF>` line starts in `text`, or -1."""
        if self._line_start and text.startswith(b".\r\n"):
            return 0
        at = text.find(_END)
        return at + 2 if at >= 0 else -1

    def _keep_carry(self, rest: bytes, *, at_line_start: bool) -> None:
        """Keep the incomplete last line; past `max_line`, only its last octets."""
        if len(rest) < self.max_line:
            self._carry, self._line_start = rest, at_line_start
            return
        if self.verdict is DataVerdict.NOMINAL:
            self._refuse(DataVerdict.TOO_LONG)
        self._carry, self._line_start = rest[-4:], False

    def _take(self, block: bytes) -> None:
        """Complete lines (or the tail of a discarded one): check, unstuff and keep them."""
        if not block or self.verdict is not DataVerdict.NOMINAL:
            return
        if not self._line_start:  # the tail of a discarded line: nothing to keep
            return
        lines = block.split(_CRLF)
        lines.pop()  # the empty string after the block's last CRLF
        over_size = self.max_size is not None and self.size + len(block) > self.max_size
        if over_size or max(map(len, lines)) + 2 > self.max_line:
            self._refuse(self._first_breach(lines))
            return
        self.size += len(block)
        unstuffed = block.replace(b"\r\n.", _CRLF)
        self.pieces.append(unstuffed[1:] if unstuffed.startswith(b".") else unstuffed)

    def _first_breach(self, lines: list[bytes]) -> DataVerdict:
        """Which limit the stream passes first within these lines (a line too long wins a tie)."""
        ends = list(accumulate((len(line) + 2 for line in lines), initial=self.size))[1:]
        first_long = next((i for i, line in enumerate(lines) if len(line) + 2 > self.max_line),
                          len(lines))
        if self.max_size is None:
            return DataVerdict.TOO_LONG
        first_big = bisect_right(ends, self.max_size)
        return DataVerdict.TOO_LONG if first_long <= first_big else DataVerdict.TOO_BIG

    def _refuse(self, verdict: DataVerdict) -> None:
        self.verdict = verdict
        self.pieces = []


async def read_data(reader: asyncio.StreamReader, assembler: DataAssembler) -> None:
    """Feed `assembler` from `reader` up to the end of the data, and not one octet further.

    Every piece ends at a `.<CRLF>` (a suffix of the end marker, so the end is
    never passed) or, when none comes within the reader's limit, just before
    the octets that could start one. Raises `asyncio.IncompleteReadError` on EOF.
    """
    unyielded = 0
    while not assembler.done:
        try:
            piece = await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError as exc:
            piece = await reader.readexactly(exc.consumed)
        if assembler.feed(piece) != len(piece):
            raise RuntimeError("the DATA reader took octets after the end of the data")
        unyielded += len(piece)
        if unyielded >= STEP:
            unyielded = 0
            await asyncio.sleep(0)


async def joined(pieces: list[bytes]) -> bytes:
    """The pieces as one bytes object; a large copy runs in a worker thread (`by_size`)."""
    return await by_size(sum(map(len, pieces)), b"".join, pieces)
