"""A reading position over one framed command: the lexical layer of the parser.

Owns: `Cursor`, which reads the RFC 3501 9 terminals from a `RawCommand`
(atoms, numbers, quoted strings, literals, astrings, parenthesis nesting) and
moves from a line into its literal and on to the next line.

Invariants: every failure raises `ParseError` (never another exception); a
number is at most 10 digits and within its range before `int()` sees it;
parenthesis nesting is bounded by `max_depth`; NUL never reaches an argument.

Ref: RFC 3501 9 (`atom`, `ATOM-CHAR`, `astring`, `quoted`, `literal`,
`number`, `nz-number`, `tag`), RFC 7888 (`{n+}`).
"""

from __future__ import annotations

import re

from imap_store.imap.errors import ParseError

from .framer import RawCommand

# RFC 3501 9: atom-specials are "(" ")" "{" SP CTL list-wildcards quoted-specials "]".
ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0x20)) | {0x7F}
ATOM_CHARS = frozenset(range(0x01, 0x80)) - ATOM_SPECIALS
ASTRING_CHARS = ATOM_CHARS | {ord("]")}
TAG_CHARS = ASTRING_CHARS - {ord("+")}  # RFC 3501 9: `tag` excludes "+"
LIST_CHARS = ATOM_CHARS | frozenset(b"%*]")
_LITERAL = re.compile(rb"~?\{(\d{1,20})\+?\}\Z")
MAX_NUMBER = 2**32 - 1


class Cursor:
    """Reads terminals left to right; raises ParseError on any mismatch."""

    def __init__(self, raw: RawCommand, max_depth: int = 20) -> None:
        self._raw = raw
        self._index = 0
        self._line = raw.lines[0]
        self._pos = 0
        self._depth = 0
        self._max_depth = max_depth

    def at_end(self) -> bool:
        """True when the whole command has been read."""
        return self._pos >= len(self._line) and self._index == len(self._raw.lines) - 1

    def peek(self) -> int | None:
        """The next byte of the current line, None at its end."""
        return self._line[self._pos] if self._pos < len(self._line) else None

    def peek_is(self, chars: bytes) -> bool:
        """True when the next byte is one of `chars`."""
        nxt = self.peek()
        return nxt is not None and nxt in chars

    def maybe(self, text: bytes) -> bool:
        """Consume `text` (case-insensitive) if it comes next."""
        end = self._pos + len(text)
        found = self._line[self._pos : end]
        if found != text and found.upper() != text.upper():  # most often the exact octets
            return False
        self._pos = end
        return True

    def expect(self, text: bytes, what: str | None = None) -> None:
        """Consume `text` or fail."""
        if not self.maybe(text):
            raise ParseError(f"Expected {what or text.decode('ascii')}")

    def sp(self) -> None:
        """One space between arguments."""
        self.expect(b" ", "space")

    def expect_end(self) -> None:
        """Nothing may follow the last argument."""
        if not self.at_end():
            raise ParseError("Unexpected extra arguments")

    def take_while(self, allowed: frozenset[int]) -> bytes:
        """The longest run of bytes from `allowed` (possibly empty)."""
        start = self._pos
        line = self._line
        while self._pos < len(line) and line[self._pos] in allowed:
            self._pos += 1
        return line[start : self._pos]

    def atom(self, what: str = "atom") -> str:
        """An atom (RFC 3501 `atom`)."""
        run = self.take_while(ATOM_CHARS)
        if not run:
            raise ParseError(f"Expected {what}")
        return run.decode("ascii")

    def keyword(self) -> str:
        """An atom, upper-cased (command names, search keys)."""
        return self.atom("keyword").upper()

    def tag(self) -> str:
        """The command tag (RFC 3501 `tag`)."""
        run = self.take_while(TAG_CHARS)
        if not run:
            raise ParseError("Missing or invalid tag")
        return run.decode("ascii")

    def digits(self, limit: int = MAX_NUMBER) -> int:
        """`number` bounded by `limit` (RFC 3501 `number`, `number64`)."""
        run = self.take_while(frozenset(b"0123456789"))
        if not run:
            raise ParseError("Expected number")
        # RFC 3501 9 (`number`, 32-bit unsigned): bounded before int() reads the digits.
        if len(run) > len(str(limit)) or int(run) > limit:
            raise ParseError("Number out of range")
        return int(run)

    def nz_number(self) -> int:
        """`nz-number`: 1..2^32-1."""
        value = self.digits()
        if value == 0:
            raise ParseError("Number must not be zero")
        return value

    def quoted(self) -> bytes:
        """`quoted`: DQUOTE *QUOTED-CHAR DQUOTE with `\\` escapes."""
        self.expect(b'"', "quoted string")
        out = bytearray()
        line = self._line
        while self._pos < len(line):
            byte = line[self._pos]
            self._pos += 1
            if byte == 0x22:
                return bytes(out)
            if byte == 0x5C:  # RFC 3501 9: only `"` and `\` may be escaped in `quoted`
                if self._pos >= len(line) or line[self._pos] not in b'"\\':
                    raise ParseError("Invalid escape in quoted string")
                byte = line[self._pos]
                self._pos += 1
            out.append(byte)
        raise ParseError("Unterminated quoted string")

    def literal(self, binary: bool = False) -> bytes:
        """`literal` (`{n}`/`{n+}` CRLF data), or `literal8` when `binary`."""
        match = _LITERAL.search(self._line, self._pos)
        if match is None or match.start() != self._pos:
            raise ParseError("Invalid literal")
        if match.group().startswith(b"~") and not binary:  # RFC 3516 4.4: literal8 in APPEND
            raise ParseError("Binary literal not allowed here")
        data = self._raw.literals[self._index]
        self._index += 1
        self._line, self._pos = self._raw.lines[self._index], 0
        if not binary and 0 in data:  # RFC 3501 9: `literal` is CHAR8, NUL excluded
            raise ParseError("NUL byte in literal")
        return data

    def string(self) -> bytes:
        """`string` = quoted / literal."""
        if self.peek_is(b'"'):
            return self.quoted()
        if self.peek_is(b"{"):
            return self.literal()
        raise ParseError("Expected string")

    def astring(self) -> bytes:
        """`astring` = 1*ASTRING-CHAR / string."""
        if self.peek_is(b'"{'):
            return self.string()
        run = self.take_while(ASTRING_CHARS)
        if not run:
            raise ParseError("Expected string")
        return run

    def nstring(self) -> bytes | None:
        """`nstring` = string / NIL."""
        if self.peek_is(b'"{'):
            return self.string()
        self.expect(b"NIL", "string or NIL")
        return None

    def list_mailbox(self) -> bytes:
        """`list-mailbox` = 1*list-char / string (wildcards allowed)."""
        if self.peek_is(b'"{'):
            return self.string()
        run = self.take_while(LIST_CHARS)
        if not run:
            raise ParseError("Expected mailbox pattern")
        return run

    def open_paren(self) -> None:
        """`(`, counting nesting depth."""
        self.expect(b"(")
        self._depth += 1
        if self._depth > self._max_depth:
            raise ParseError("Too deeply nested")

    def close_paren(self) -> bool:
        """Consume `)` if it comes next."""
        if not self.maybe(b")"):
            return False
        self._depth -= 1
        return True

    def enter(self) -> None:
        """Count one level of grammatical recursion (NOT, OR...)."""
        self._depth += 1
        if self._depth > self._max_depth:
            raise ParseError("Too deeply nested")

    def leave(self) -> None:
        """Undo `enter`."""
        self._depth -= 1

    def rest_is_empty(self) -> bool:
        """True when the current line is exhausted."""
        return self._pos >= len(self._line)
