"""The one header parser: where a header section ends, its fields, their values.

Owns: `split_header` (header section and body), `header_end` (where the body
of an entity inside a larger buffer starts, without copying), `HeaderField` (one field:
lower-case name, raw octets, unfolded value), `header_fields` (the fields of a
header section in order), `field_value` (unfolded value of one raw field),
`values_of`, `first_value` and `first_text`, and `without_fields` (a message
without some of its header fields). `mime_tree` (IMAP) and `facts` (SMTP policy and
audit) read headers only through these, so a message's From, Sender or
Content-Type is the same field for the policy and for the IMAP client.

Invariants:
- byte-exact: the raw octets of the fields, in order, are the header section
  as received (blank line excluded); nothing is re-encoded or re-folded;
- the header section ends at the first empty line; a line ends with LF,
  with or without CR (a bare LF is a line end too, as mail software reads it);
- a field starts at a line that does not begin with SP or HTAB and runs over
  the lines that do (folding); its name is what precedes the first colon,
  with surrounding white space removed and lower-cased (a line without a
  colon is a field whose name is the whole line);
- `without_fields` removes whole fields (first line and continuation lines)
  from the header section only; every other octet of the message is kept;
- nothing here raises on any input.

Ref: RFC 5322 2.1 (header section, empty line, body), 2.2 (header fields),
2.2.3 (folding and unfolding), 3.2.2 (folding white space), 4.5 (obsolete
white space before the colon).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from .octets import windows

# RFC 5322 2.1: the header section ends at the first empty line (CRLF CRLF; LF accepted);
# an empty line at the very start is checked apart (a leading `\A|` alternative slows the
# search, and `\A` never matches at a search's start position inside a buffer).
_HEADER_END = re.compile(rb"\n\r?\n")
# RFC 5322 2.2.3: a field's first line does not start with WSP; continuation lines do.
_FIELD_START = re.compile(rb"^(?=[^ \t])", re.MULTILINE)
# RFC 5322 2.2.3: unfolding removes each CRLF immediately followed by WSP.
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


class HeaderField(NamedTuple):
    """One header field: lower-case name and raw octets (with the line end)."""

    name: str
    raw: bytes

    @property
    def value(self) -> bytes:
        """The unfolded value, without the surrounding white space."""
        return field_value(self.raw)

    @property
    def text(self) -> str:
        """The unfolded value as text, runs of white space made one space (UTF-8,
        undecodable octets replaced)."""
        return " ".join(self.value.decode("utf-8", "replace").split())


def header_end(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Where the body of the entity `data[start:end]` starts: just after the empty line
    that ends its header section, `end` when it has none (no octet is copied)."""
    stop = len(data) if end is None else end
    if data.startswith(b"\n", start, stop):  # an empty header section
        return start + 1
    if data.startswith(b"\r\n", start, stop):
        return start + 2
    match = _HEADER_END.search(data, start, stop)
    return stop if match is None else match.end()


def split_header(data: bytes) -> tuple[bytes, bytes]:
    """(header section including its empty line, body); no empty line: (data, b"")."""
    at = header_end(data)
    return data[:at], data[at:]


def header_fields(header: bytes) -> list[HeaderField]:
    """The fields of a header section (as `split_header` returns it), in message order."""
    return [_field(chunk) for chunk in _FIELD_START.split(header)
            if chunk.strip()]  # not the empty line that ends the section


def _field(chunk: bytes) -> HeaderField:
    """The field of one chunk of a header section (its first line and continuation lines)."""
    # RFC 5322 2.2: field-name ":" field-body; 4.5 allows WSP before the colon.
    name = chunk.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
    return HeaderField(name, chunk if chunk.endswith(b"\n") else chunk + b"\r\n")


def without_fields(data: bytes, drop: Callable[[HeaderField], bool]) -> bytes:
    """`data` (a whole message) without the fields of its header section for which `drop`
    is true, each with its continuation lines (RFC 5322 2.2.3); every other octet as it
    was, the body never read; `data` itself when no field is dropped."""
    end = header_end(data)
    chunks = _FIELD_START.split(data[:end])
    kept = [chunk for chunk in chunks if not (chunk.strip() and drop(_field(chunk)))]
    if len(kept) == len(chunks):
        return data
    return b"".join([*kept, *windows(data, end, len(data))])  # joined without the GIL


def field_value(raw: bytes) -> bytes:
    """The unfolded, trimmed value of one raw header field (RFC 5322 2.2.3)."""
    value = raw.split(b":", 1)[1] if b":" in raw else b""
    return _FOLD.sub(b"", value).strip()


def values_of(fields: list[HeaderField], name: str) -> list[bytes]:
    """The unfolded values of every field called `name` (lower-case), in order."""
    return [field.value for field in fields if field.name == name]


def first_value(fields: list[HeaderField], name: str) -> bytes | None:
    """The unfolded value of the first field called `name` (lower-case), None if absent."""
    for field in fields:
        if field.name == name:
            return field.value
    return None


def first_text(fields: list[HeaderField], name: str) -> str | None:
    """`HeaderField.text` of the first field called `name` (lower-case), None if absent."""
    for field in fields:
        if field.name == name:
            return field.text
    return None
