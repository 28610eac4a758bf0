"""The sans-I/O IMAP command parser: bytes in, frozen `Command` values out.

Owns: `parse_command(raw)`, which reads the tag, the command name (with the
`UID` prefix) and the arguments through the table in `grammar`. The framer
(`CommandReader`) is re-exported so callers import the parser from one place.

Invariants: malformed input, NUL bytes, over-deep nesting or out-of-range
numbers raise `ParseError` carrying the tag when it could be read, so the
session answers `tag BAD ...` (or `* BAD ...`) and carries on; nothing here
performs I/O. The one state kept between commands is a bounded cache of
what follows the tag on short one-line commands that carry no secret (FETCH,
STORE, STATUS, LIST, NOOP...; never LOGIN, AUTHENTICATE or a literal): a
client repeats the same few lines, and the parsed values are frozen, so a
cached one is the value parsing would give again.

Ref: RFC 3501 2.2.1 (client commands), 9 (`command`, `tag`, `uid`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from imap_store.imap.errors import ParseError

from .command import Command, CommandArgs
from .cursor import TAG_CHARS, Cursor
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


CACHED_LINE_MAX = 256
"""Longest command line (octets after the tag) whose parse is cached."""
CACHED_ENTRIES = 1024
CACHED_COMMANDS = frozenset({
    b"CAPABILITY", b"CHECK", b"COPY", b"EXAMINE", b"EXPUNGE", b"FETCH", b"IDLE", b"LIST",
    b"LSUB", b"MOVE", b"NOOP", b"SEARCH", b"SELECT", b"STATUS", b"STORE", b"UID",
})
"""Commands whose arguments are never a secret (LOGIN, AUTHENTICATE are not here; a
`UID` command is one of COPY, FETCH, MOVE, SEARCH, STORE or EXPUNGE)."""
_TAG_AND_NAME = re.compile(
    b"([" + b"".join(re.escape(bytes([c])) for c in sorted(TAG_CHARS)) + b"]+) ([A-Za-z]+)")
"""A tag (all of it: the next octet is not a tag character), one SP and a word."""


def parse_command(raw: RawCommand, max_depth: int = 20) -> Command:
    """One framed command -> `Command`; ParseError when malformed."""
    if any(0 in line for line in raw.lines):  # RFC 3501 9: CHAR8 excludes NUL everywhere
        tag = tag_of(raw.lines[0])
        raise ParseError("NUL byte in command", tag=None if tag == "*" else tag)
    line = raw.lines[0]
    if len(raw.lines) == 1 and (found := _TAG_AND_NAME.match(line)) is not None:
        tag_end = found.end(1)
        if (found.group(2).upper() in CACHED_COMMANDS
                and len(line) - tag_end <= CACHED_LINE_MAX):
            # The same parse as below: the tag is all of line[:tag_end], then one SP.
            tag = found.group(1).decode("ascii")
            try:
                name, args, uid = _after_tag(line[tag_end + 1:], max_depth)
            except ParseError as exc:
                raise exc.with_tag(tag) from None
            return Command(tag, name, args, uid)
    cursor = Cursor(raw, max_depth)
    tag = cursor.tag()
    try:
        cursor.sp()
        name, args, uid = _command(cursor)
    except ParseError as exc:  # RFC 3501 7.1.3: BAD is tagged once the tag could be read
        raise exc.with_tag(tag) from None
    return Command(tag, name, args, uid)


@lru_cache(maxsize=CACHED_ENTRIES)
def _after_tag(rest: bytes, max_depth: int) -> tuple[str, CommandArgs, bool]:
    return _command(Cursor(RawCommand((rest,)), max_depth))


def _command(cursor: Cursor) -> tuple[str, CommandArgs, bool]:
    """The command name, its arguments and the UID prefix, after the tag's SP."""
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
    return name, args, uid


def parse_line(line: bytes, max_depth: int = 20) -> Command:
    """Parse a command without literals (tests and tools)."""
    return parse_command(RawCommand((line,)), max_depth)
