"""FETCH attributes: their grammar and their values.

Owns: `Section` (part path + HEADER / HEADER.FIELDS[.NOT] / TEXT / MIME),
`Partial` (`<origin.count>`), `FetchAttribute`, and the parser for a FETCH
attribute list including the macros ALL, FAST and FULL.

Invariants: a part path is a list of nz-numbers; MIME needs a part path;
HEADER.FIELDS needs at least one field name; unknown attributes raise
ParseError (BAD). `needs_meta` items are answered from the meta stored at
delivery, `needs_message` ones need the whole decrypted message.

Ref: RFC 3501 6.4.5 and 9 (`fetch-att`, `section`, `section-spec`,
`header-list`), RFC 3516 4.2 (BINARY, BINARY.PEEK, BINARY.SIZE),
RFC 7162 3.1.4 (MODSEQ).
"""

from __future__ import annotations

from dataclasses import dataclass

from imap_store.imap.errors import ParseError

from .cursor import ASTRING_CHARS, Cursor

_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")
SIMPLE = frozenset(
    {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
     "RFC822.TEXT", "BODY", "BODYSTRUCTURE", "UID", "MODSEQ"}
)
SECTIONED = frozenset({"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"})
_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})
CONTENT = frozenset({"RFC822", "RFC822.HEADER", "RFC822.TEXT"})
META_ITEMS = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822.HEADER"})
DETAIL_ITEMS = frozenset({"RFC822.SIZE", "INTERNALDATE", "MODSEQ"})


@dataclass(frozen=True)
class Section:
    """`section-spec`: part path, then HEADER, HEADER.FIELDS[.NOT], TEXT or MIME."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def is_header(self) -> bool:
        """HEADER, HEADER.FIELDS or HEADER.FIELDS.NOT."""
        return self.text is not None and self.text.startswith("HEADER")

    def render(self) -> str:
        """The section as echoed in the FETCH response."""
        pieces = [str(n) for n in self.part]
        if self.text is not None:
            pieces.append(self.text)
        spec = ".".join(pieces)
        if self.fields:
            spec += " (" + " ".join(_field_atom(f) for f in self.fields) + ")"
        return spec


def _field_atom(name: str) -> str:
    safe = name and all(ord(ch) in ASTRING_CHARS for ch in name)
    return name if safe else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Partial:
    """`<origin.count>`."""

    origin: int
    count: int


@dataclass(frozen=True)
class FetchAttribute:
    """One requested item; `section` is set for BODY[...] and BINARY[...]."""

    name: str
    section: Section | None = None
    partial: Partial | None = None
    peek: bool = False

    @property
    def response_name(self) -> str:
        """The item name in the FETCH response (`BODY.PEEK[x]` -> `BODY[x]`)."""
        if self.section is None:
            return self.name
        text = f"{self.name}[{self.section.render()}]"
        # RFC 3501 7.4.2: a partial is answered with its origin only, `BODY[x]<n>`.
        return text if self.partial is None else f"{text}<{self.partial.origin}>"

    @property
    def is_content(self) -> bool:
        """True when the item returns message content (audited, R24)."""
        return self.section is not None or self.name in CONTENT

    @property
    def needs_meta(self) -> bool:
        """True when the stored meta (header, ENVELOPE, BODYSTRUCTURE) answers it."""
        if self.section is not None:
            return self.name == "BODY" and not self.section.part and self.section.is_header
        return self.name in META_ITEMS

    @property
    def needs_details(self) -> bool:
        """True when the item is a row detail (size, internal date, MODSEQ), which a
        view opened from the folder index reads on demand."""
        return self.section is None and self.name in DETAIL_ITEMS

    @property
    def needs_message(self) -> bool:
        """True when the item needs the whole decrypted message."""
        return self.is_content and not self.needs_meta

    @property
    def sets_seen(self) -> bool:
        """True when fetching sets `\\Seen` (RFC 3501 6.4.5)."""
        if self.section is not None:  # RFC 3516 4.2: BINARY.SIZE sets nothing
            return not self.peek and self.name != "BINARY.SIZE"
        return self.name in ("RFC822", "RFC822.TEXT")  # RFC 3501 6.4.5: RFC822.HEADER does not


_FLAGS = FetchAttribute("FLAGS")
_INTERNALDATE = FetchAttribute("INTERNALDATE")
_SIZE = FetchAttribute("RFC822.SIZE")
_ENVELOPE = FetchAttribute("ENVELOPE")
# RFC 3501 6.4.5: the macros ALL, FAST and FULL, which cannot be mixed with other items.
MACROS: dict[str, tuple[FetchAttribute, ...]] = {
    "FAST": (_FLAGS, _INTERNALDATE, _SIZE),
    "ALL": (_FLAGS, _INTERNALDATE, _SIZE, _ENVELOPE),
    "FULL": (_FLAGS, _INTERNALDATE, _SIZE, _ENVELOPE, FetchAttribute("BODY")),
}


def parse_fetch_attributes(cursor: Cursor) -> tuple[FetchAttribute, ...]:
    """`fetch-att` / "(" fetch-att *(SP fetch-att) ")" / macro."""
    if not cursor.peek_is(b"("):
        name = _name(cursor)
        if name in MACROS:
            return MACROS[name]
        return (_attribute(cursor, name),)
    cursor.open_paren()
    attributes = [_attribute(cursor, _name(cursor))]
    while not cursor.close_paren():
        cursor.sp()
        attributes.append(_attribute(cursor, _name(cursor)))
    return tuple(attributes)


def _name(cursor: Cursor) -> str:
    name = cursor.take_while(_NAME_CHARS).decode("ascii").upper()
    if not name:
        raise ParseError("Expected FETCH attribute")
    return name


def _attribute(cursor: Cursor, name: str) -> FetchAttribute:
    if name in SECTIONED and cursor.peek_is(b"["):
        section = _section(cursor, binary=name.startswith("BINARY"))
        partial = _partial(cursor) if name != "BINARY.SIZE" else None
        base = name.removesuffix(".PEEK")
        return FetchAttribute(base, section, partial, peek=name.endswith(".PEEK"))
    if name not in SIMPLE:
        raise ParseError("Unknown FETCH attribute")
    return FetchAttribute(name)


def _section(cursor: Cursor, binary: bool) -> Section:
    cursor.expect(b"[")
    part: list[int] = []
    text: str | None = None
    while cursor.peek_is(b"0123456789"):
        part.append(cursor.nz_number())
        if not cursor.maybe(b"."):
            break
        if not cursor.peek_is(b"0123456789"):
            text = _section_text(cursor, bool(part))
    if not part and not cursor.peek_is(b"]"):
        text = _section_text(cursor, False)
    if binary and text is not None:  # RFC 3516 4.2: `section-binary` is part numbers only
        raise ParseError("BINARY takes a part number only")
    fields = _header_list(cursor) if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT") else ()
    cursor.expect(b"]")
    return Section(tuple(part), text, fields)


def _section_text(cursor: Cursor, after_part: bool) -> str:
    text = _name(cursor)
    if text not in _TEXTS or (text == "MIME" and not after_part):  # RFC 3501 9 `section-text`
        raise ParseError("Invalid section")
    return text


def _header_list(cursor: Cursor) -> tuple[str, ...]:
    cursor.sp()
    cursor.open_paren()
    fields = [_field_name(cursor)]
    while not cursor.close_paren():
        cursor.sp()
        fields.append(_field_name(cursor))
    return tuple(fields)


def _field_name(cursor: Cursor) -> str:
    raw = cursor.astring()
    # RFC 5322 3.6.8: a field name is printable US-ASCII except ":".
    if not raw or any(b <= 0x20 or b >= 0x7F or b == 0x3A for b in raw):
        raise ParseError("Invalid header field name")
    return raw.decode("ascii")


def _partial(cursor: Cursor) -> Partial | None:
    if not cursor.maybe(b"<"):
        return None
    origin = cursor.digits()
    cursor.expect(b".")
    count = cursor.nz_number()
    cursor.expect(b">")
    return Partial(origin, count)
