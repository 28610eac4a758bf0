"""The sans-I/O IMAP command parser: bytes in, frozen `Command` values out.

Owns: `parse_command(raw)`, which reads the tag, the command name (with the
`UID` prefix) and the arguments through the table in `grammar`. The framer
(`CommandReader`) is re-exported so callers import the parser from one place.

Invariants: malformed input, NUL bytes, over-deep nesting or out-of-range
numbers raise `ParseError` carrying the tag when it could be read, so the
session answers `tag BAD ...` (or `* BAD ...`) and carries on; nothing here
performs I/O or keeps state between commands.

Ref: RFC 3501 2.2.1 (client commands), 9 (`command`, `tag`, `uid`).
"""

from __future__ import annotations

from imap_store.imap.errors import ParseError

from .command import Command
from .cursor import Cursor
from .framer import CommandReader, CommandReady, ContinuationNeeded, RawCommand, Rejected, tag_of
from .grammar import GRAMMAR, UID_GRAMMAR

__all__ = [
    "CommandReader",
    "CommandReady",
    "ContinuationNeeded",
    "ParseError",
    "RawCommand",
    "Rejected",
    "parse_command",
    "parse_line",
]


def parse_command(raw: RawCommand, max_depth: int = 20) -> Command:
    """One framed command -> `Command`; ParseError when malformed."""
    if any(0 in line for line in raw.lines):  # RFC 3501 9: CHAR8 excludes NUL everywhere
        tag = tag_of(raw.lines[0])
        raise ParseError("NUL byte in command", tag=None if tag == "*" else tag)
    cursor = Cursor(raw, max_depth)
    tag = cursor.tag()
    try:
        return _command(cursor, tag)
    except ParseError as exc:  # RFC 3501 7.1.3: BAD is tagged once the tag could be read
        raise exc.with_tag(tag) from None


def _command(cursor: Cursor, tag: str) -> Command:
    cursor.sp()
    name = cursor.keyword()
    uid = name == "UID"
    if uid:  # RFC 3501 6.4.8: UID prefixes COPY, FETCH, SEARCH, STORE (and EXPUNGE, MOVE)
        cursor.sp()
        name = cursor.keyword()
    reader = (UID_GRAMMAR if uid else GRAMMAR).get(name)
    if reader is None:
        raise ParseError("Unknown command")
    args = reader(cursor)
    cursor.expect_end()
    return Command(tag, name, args, uid)


def parse_line(line: bytes, max_depth: int = 20) -> Command:
    """Parse a command without literals (tests and tools)."""
    return parse_command(RawCommand((line,)), max_depth)
