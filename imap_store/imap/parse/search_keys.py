"""SEARCH criteria: their values and their grammar.

Owns: the `SearchKey` union (flag, date, size, header/text, UID, sequence,
NOT, OR, AND) and `parse_search(cursor)` for the whole RFC 3501 key set.

Invariants: unknown keys raise ParseError (BAD); recursion (NOT, OR, lists)
is bounded by the cursor depth limit; strings are decoded with the command's
charset (US-ASCII or UTF-8), undecodable -> BAD; NEW is `RECENT UNSEEN` and
OLD is `NOT RECENT` (RFC 3501 6.4.4).

Ref: RFC 3501 6.4.4 and 9 (`search-key`, `date`), RFC 9051 6.4.4.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, TypeAlias

from imap_store.imap.errors import ParseError

from .cursor import Cursor
from .sequence import SequenceSet, parse_sequence_set

_DATE_CHARS = frozenset(b"0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class AllKey:
    """ALL."""


@dataclass(frozen=True)
class FlagKey:
    """A flag present (SEEN, KEYWORD k) or absent (UNSEEN, UNKEYWORD k)."""

    flag: str
    present: bool = True


@dataclass(frozen=True)
class DateKey:
    """BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date:)."""

    field: Literal["internal", "sent"]
    op: Literal["before", "on", "since"]
    date: dt.date


@dataclass(frozen=True)
class SizeKey:
    """LARGER n / SMALLER n (RFC822.SIZE)."""

    op: Literal["larger", "smaller"]
    size: int


@dataclass(frozen=True)
class HeaderKey:
    """FROM/TO/CC/BCC/SUBJECT s and HEADER field s (substring, any case)."""

    field: str
    value: str


@dataclass(frozen=True)
class TextKey:
    """BODY s (body only) or TEXT s (header and body)."""

    where: Literal["body", "text"]
    value: str


@dataclass(frozen=True)
class UidKey:
    """UID sequence-set."""

    sequence: SequenceSet


@dataclass(frozen=True)
class SeqKey:
    """A bare sequence set of message numbers."""

    sequence: SequenceSet


@dataclass(frozen=True)
class NotKey:
    """NOT key."""

    key: SearchKey


@dataclass(frozen=True)
class OrKey:
    """OR key1 key2."""

    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class AndKey:
    """Keys side by side, or a parenthesised list."""

    keys: tuple[SearchKey, ...]


SearchKey: TypeAlias = (
    AllKey | FlagKey | DateKey | SizeKey | HeaderKey | TextKey | UidKey | SeqKey
    | NotKey | OrKey | AndKey
)

RECENT = FlagKey("\\Recent")
_FLAG_KEYS: dict[str, SearchKey] = {
    "ALL": AllKey(),
    "ANSWERED": FlagKey("\\Answered"), "UNANSWERED": FlagKey("\\Answered", False),
    "DELETED": FlagKey("\\Deleted"), "UNDELETED": FlagKey("\\Deleted", False),
    "DRAFT": FlagKey("\\Draft"), "UNDRAFT": FlagKey("\\Draft", False),
    "FLAGGED": FlagKey("\\Flagged"), "UNFLAGGED": FlagKey("\\Flagged", False),
    "SEEN": FlagKey("\\Seen"), "UNSEEN": FlagKey("\\Seen", False),
    # RFC 3501 6.4.4: OLD is NOT RECENT, NEW is RECENT UNSEEN.
    "RECENT": RECENT, "OLD": NotKey(RECENT),
    "NEW": AndKey((RECENT, FlagKey("\\Seen", False))),
}
_HEADER_KEYS = frozenset({"FROM", "TO", "CC", "BCC", "SUBJECT"})
_DATE_KEYS: dict[str, tuple[Literal["internal", "sent"], Literal["before", "on", "since"]]] = {
    "BEFORE": ("internal", "before"), "ON": ("internal", "on"), "SINCE": ("internal", "since"),
    "SENTBEFORE": ("sent", "before"), "SENTON": ("sent", "on"), "SENTSINCE": ("sent", "since"),
}


class _SearchParser:
    def __init__(self, cursor: Cursor, charset: str) -> None:
        self.cursor = cursor
        self.charset = charset

    def text(self) -> str:
        self.cursor.sp()
        try:  # RFC 3501 6.4.4: strings are in the command's CHARSET
            return self.cursor.astring().decode(self.charset)
        except UnicodeDecodeError as exc:
            raise ParseError("String not valid in the given charset") from exc

    def keys_until(self, closing: bool) -> tuple[SearchKey, ...]:
        keys = [self.key()]
        while not (self.cursor.close_paren() if closing else self.cursor.at_end()):
            self.cursor.sp()
            keys.append(self.key())
        return tuple(keys)

    def key(self) -> SearchKey:
        cursor = self.cursor
        if cursor.peek_is(b"("):
            cursor.open_paren()
            return AndKey(self.keys_until(closing=True))
        if cursor.peek_is(b"0123456789*"):  # RFC 3501 6.4.4: a bare sequence set is a key
            return SeqKey(parse_sequence_set(cursor))
        return self.named(cursor.keyword())

    def nested(self) -> SearchKey:
        self.cursor.sp()
        self.cursor.enter()
        try:
            return self.key()
        finally:
            self.cursor.leave()

    def named(self, name: str) -> SearchKey:
        if name in _FLAG_KEYS:
            return _FLAG_KEYS[name]
        if name in _HEADER_KEYS:
            return HeaderKey(name.lower(), self.text())
        if name in _DATE_KEYS:
            return DateKey(*_DATE_KEYS[name], self.date())
        return self.other(name)

    def other(self, name: str) -> SearchKey:
        cursor = self.cursor
        if name in ("KEYWORD", "UNKEYWORD"):
            cursor.sp()
            return FlagKey(cursor.atom("keyword"), name == "KEYWORD")
        if name in ("LARGER", "SMALLER"):
            cursor.sp()  # RFC 9051 6.4.4: LARGER and SMALLER take a number64
            return SizeKey("larger" if name == "LARGER" else "smaller", cursor.digits(2**63 - 1))
        if name in ("BODY", "TEXT"):
            return TextKey("body" if name == "BODY" else "text", self.text())
        return self.compound(name)

    def compound(self, name: str) -> SearchKey:
        cursor = self.cursor
        if name == "HEADER":
            field = self.text()
            return HeaderKey(field.lower(), self.text())
        if name == "UID":
            cursor.sp()
            return UidKey(parse_sequence_set(cursor))
        if name == "NOT":
            return NotKey(self.nested())
        if name == "OR":
            left = self.nested()
            return OrKey(left, self.nested())
        raise ParseError("Unknown search key")

    def date(self) -> dt.date:
        self.cursor.sp()
        quoted = self.cursor.maybe(b'"')
        text = self.cursor.take_while(_DATE_CHARS)
        if quoted:
            self.cursor.expect(b'"')
        return parse_date(text.decode("ascii"))


def parse_date(text: str) -> dt.date:
    """`date-text` = date-day "-" date-month "-" date-year."""
    parts = text.split("-")
    if len(parts) != 3 or parts[1].upper() not in MONTHS:
        raise ParseError("Invalid date")
    day, year = parts[0], parts[2]
    if not (day.isdigit() and 1 <= len(day) <= 2 and year.isdigit() and len(year) == 4):
        raise ParseError("Invalid date")
    try:
        return dt.date(int(year), MONTHS.index(parts[1].upper()) + 1, int(day))
    except ValueError as exc:
        raise ParseError("Invalid date") from exc


def parse_search(cursor: Cursor, charset: str = "utf-8") -> SearchKey:
    """All search keys to the end of the command, ANDed."""
    # RFC 3501 6.4.4: keys side by side must all match.
    keys = _SearchParser(cursor, charset).keys_until(closing=False)
    return keys[0] if len(keys) == 1 else AndKey(keys)
