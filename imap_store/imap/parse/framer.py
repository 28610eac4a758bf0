"""Sans-I/O framing of client input into complete commands.

Owns: `CommandReader`, which takes bytes as they arrive and yields events:
`CommandReady` (a command line with all its literals), `ContinuationNeeded`
(a synchronising literal was accepted: the I/O layer sends `+ go ahead`), or
`Rejected` (a limit was hit: the response to send, and whether to disconnect).
It also hands out raw lines for continuation exchanges (AUTHENTICATE, IDLE).

Invariants:
- a literal's announced size is checked against `literal_limit` (settable:
  `max_literal`, or less before login) and the running
  command size against `command_limit` BEFORE any continuation is requested; an
  over-limit synchronising literal is refused at once and never read;
- an over-limit non-synchronising literal (`{n+}`) cannot be refused without
  the client sending it anyway: we answer BAD [TOOBIG] and disconnect, as
  RFC 7888 4 allows;
- a line longer than `max_line` is discarded up to its end and answered BAD
  [TOOBIG] (fatal only when it announced a non-synchronising literal);
- no buffer grows beyond `max_line` plus the accepted literal size.

Ref: RFC 3501 4.3 and 7.5 (literals, continuation), RFC 7888 (LITERAL+),
RFC 9051 7.1 (TOOBIG).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imap_store.imap.limits import ImapLimits
from imap_store.imap.render.response import Tagged, code

_MARKER = re.compile(rb"\{(\d{1,20})(\+?)\}\Z")  # RFC 3501 4.3 `{n}`; RFC 7888 `{n+}`
_TAG = re.compile(rb"[\x21-\x7e]{1,64}")
_TAIL = 32
TOOBIG = code("TOOBIG")


@dataclass(frozen=True)
class RawCommand:
    """A complete command: `lines[i]` ends with the marker of `literals[i]`."""

    lines: tuple[bytes, ...]
    literals: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class CommandReady:
    """A complete command is available."""

    raw: RawCommand


@dataclass(frozen=True)
class ContinuationNeeded:
    """The client waits for `+` before sending the literal just accepted."""


@dataclass(frozen=True)
class Rejected:
    """A limit was exceeded; send `response`, then disconnect if `fatal`."""

    response: Tagged
    fatal: bool = False


FramerEvent = CommandReady | ContinuationNeeded | Rejected


def tag_of(line: bytes) -> str:
    """The tag at the start of a line, or `*` when there is none usable."""
    match = _TAG.match(line.split(b" ", 1)[0])
    if match is None or match.group() in (b"*", b"+"):
        return "*"
    return match.group().decode("ascii")


def _is_append(line: bytes) -> bool:
    words = line.split(b" ", 3)
    return len(words) > 1 and words[1].upper() == b"APPEND"


class CommandReader:
    """Incremental command framer (sans-I/O)."""

    def __init__(self, limits: ImapLimits) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._scan = 0
        self._lines: list[bytes] = []
        self._literals: list[bytes] = []
        self._size = 0
        self._literal_left: int | None = None
        self._overflow: bytes | None = None
        self.literal_limit = limits.max_literal
        self.ends = 0
        """Lines and literals completed so far (a line's deadline restarts after each)."""

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    @property
    def mid_line(self) -> bool:
        """True while part of a line is buffered (not literal octets): once events are
        exhausted, the client has started a line and not ended it."""
        return self._literal_left is None and bool(self._buf)

    def feed(self, data: bytes) -> None:
        """Add bytes received from the client."""
        self._buf += data

    def discard_buffered(self) -> int:
        """Drop unread input and any partial command (STARTTLS, RFC 3501 11.1)."""
        dropped = len(self._buf)
        self._buf.clear()
        self._reset_command()
        self._overflow = None
        return dropped

    def next_event(self) -> FramerEvent | None:
        """The next framing event, or None until more bytes arrive."""
        while True:
            if self._literal_left is not None:
                if not self._take_literal():
                    return None
                continue
            line = self._take_line()
            if line is None:
                return None
            if isinstance(line, Rejected):
                return line
            event = self._on_line(line)
            if event is not None:
                return event

    def next_line(self) -> bytes | Rejected | None:
        """A raw line for a continuation exchange, without literal handling."""
        return self._take_line()

    def _reset_command(self) -> None:
        self._lines, self._literals, self._size = [], [], 0
        self._literal_left = None

    def _take_literal(self) -> bool:
        need = self._literal_left or 0
        if len(self._buf) < need:
            return False
        self._literals.append(bytes(self._buf[:need]))
        del self._buf[:need]
        self.ends += 1
        self._scan = 0
        self._literal_left = None
        return True

    def _take_line(self) -> bytes | Rejected | None:
        end = self._buf.find(b"\n", self._scan)
        if end < 0:
            self._scan = len(self._buf)
            if self._scan > self._limits.max_line:
                self._start_overflow()
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        self.ends += 1
        self._scan = 0
        line = line[:-1] if line.endswith(b"\r") else line  # RFC 3501 2.2: lines end in CRLF
        if self._overflow is not None:
            return self._end_overflow(line)
        if len(line) > self._limits.max_line:
            self._overflow = line[:64]
            return self._end_overflow(line)
        return line

    def _start_overflow(self) -> None:
        if self._overflow is None:
            self._overflow = bytes(self._lines[0][:64] if self._lines else self._buf[:64])
        keep = bytes(self._buf[-_TAIL:])
        self._buf.clear()
        self._buf += keep
        self._scan = 0

    def _end_overflow(self, tail: bytes) -> Rejected:
        head = self._lines[0] if self._lines else (self._overflow or b"")
        self._overflow = None
        self._reset_command()
        marker = _MARKER.search(tail[-_TAIL:])
        fatal = marker is not None and marker.group(2) == b"+"
        return Rejected(Tagged(tag_of(head), "BAD", "Line too long", TOOBIG), fatal)

    def _on_line(self, line: bytes) -> FramerEvent | None:
        self._lines.append(line)
        self._size += len(line)
        marker = _MARKER.search(line)
        if marker is None:
            return self._complete()
        size, non_sync = int(marker.group(1)), marker.group(2) == b"+"
        # RFC 7888 4: the size is checked before "+ go ahead" is sent or any octet read.
        if size > self.literal_limit or self._size + size > self._limits.command_limit:
            return self._too_big(non_sync)
        self._size += size
        self._literal_left = size
        return None if non_sync else ContinuationNeeded()  # RFC 3501 7.5: ask for the literal

    def _complete(self) -> CommandReady:
        raw = RawCommand(tuple(self._lines), tuple(self._literals))
        self._reset_command()
        return CommandReady(raw)

    def _too_big(self, non_sync: bool) -> Rejected:
        first = self._lines[0]
        self._reset_command()
        tag = tag_of(first)
        if _is_append(first) and not non_sync:
            # RFC 9051 7.1 (TOOBIG): an APPEND too large for the server is NO, not BAD.
            return Rejected(Tagged(tag, "NO", "Literal too large", TOOBIG))
        response = Tagged(tag, "BAD", "Literal too large", TOOBIG)
        # RFC 7888 4: a non-synchronising literal is on its way already: close after BAD.
        return Rejected(response, fatal=non_sync)
