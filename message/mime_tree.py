"""Byte-exact MIME structure of a message.

Owns: `MimePart` (header bytes, body bytes, children, encapsulated message,
its Content-Type) and `parse_message`. Header sections are read by
`message.headers` (the one header parser; `split_header`, `header_fields`
and `field_value` are re-exported here for the IMAP engine). The IMAP engine
cuts BODY[section] octets from this tree and `message_meta` computes ENVELOPE
and BODYSTRUCTURE from it.

Invariants: parts keep the original octets, never re-serialised; multipart
nesting is bounded (`MAX_DEPTH`, deeper parts are leaves) so a hostile
message cannot exhaust the stack; nothing here raises on malformed input.
The content type is that of the first Content-Type field, lower-cased; a part
without one has its default type (text/plain, message/rfc822 in a
multipart/digest); a value that is not `type/subtype` reads as text/plain.

Ref: RFC 2045 5.1, 5.2 (Content-Type, its default), RFC 2046 5.1.1
(boundaries: the CRLF before a delimiter belongs to the delimiter), 5.1.5
(digest default), RFC 5322 2.2.3 (folding).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property

from .headers import (
    HeaderField,
    field_value,
    first_text,
    first_value,
    header_fields,
    split_header,
)
from .mime_params import header_params

MAX_DEPTH = 32
__all__ = ["MAX_DEPTH", "MimePart", "field_value", "header_fields", "parse_message",
           "parse_part", "split_header"]


def _content_type(value: str | None, default: str) -> tuple[str, str]:
    """(type, subtype) of a Content-Type value (RFC 2045 5.1, 5.2)."""
    if value is None:
        kind = default
    else:
        kind = header_params(value)[0].lower()
        if kind.count("/") != 1:
            kind = "text/plain"  # RFC 2045 5.2: an unrecognised value is text/plain
    main, _, sub = kind.partition("/")
    return main.strip(), sub.strip()


@dataclass(frozen=True)
class MimePart:
    """One entity: its header, its body, and its structure."""

    header: bytes
    body: bytes
    depth: int = 0
    default_type: str = "text/plain"
    children: tuple[MimePart, ...] = field(default=(), compare=False)

    @cached_property
    def fields(self) -> list[HeaderField]:
        """The header fields, in order (`message.headers`)."""
        return header_fields(self.header)

    def header_text(self, name: str) -> str | None:
        """The first field called `name` (lower-case), unfolded, spaces collapsed."""
        return first_text(self.fields, name)

    @cached_property
    def _content_type_value(self) -> str | None:
        """The first Content-Type value, unfolded (RFC 5322 2.2.3: a folded value keeps its
        white space); 8-bit octets kept as surrogates."""
        value = first_value(self.fields, "content-type")
        return None if value is None else value.decode("utf-8", "surrogateescape")

    @cached_property
    def content_type(self) -> tuple[str, str]:
        """(type, subtype), lower-case, defaults applied (RFC 2045 5.2)."""
        return _content_type(self._content_type_value, self.default_type)

    @property
    def maintype(self) -> str:
        """The type of the part (`text`, `multipart`, ...)."""
        return self.content_type[0]

    @property
    def subtype(self) -> str:
        """The subtype of the part (`plain`, `mixed`, ...)."""
        return self.content_type[1]

    @property
    def mime_type(self) -> str:
        """`type/subtype`."""
        return "/".join(self.content_type)

    @property
    def raw(self) -> bytes:
        """Header and body as received."""
        return self.header + self.body

    def content_param(self, name: str) -> str | None:
        """A Content-Type parameter (`NAME` upper-case), unfolded and unquoted (RFC 2045 5.1)."""
        value = self._content_type_value
        if value is None:
            return None
        return dict(header_params(value)[1]).get(name) or None

    @cached_property
    def boundary(self) -> str | None:
        """The Content-Type boundary (RFC 2046 5.1.1)."""
        return self.content_param("BOUNDARY")

    @property
    def is_multipart(self) -> bool:
        """True for a multipart entity with a boundary (it has children)."""
        return self.maintype == "multipart" and self.boundary is not None

    @cached_property
    def encapsulated(self) -> MimePart | None:
        """The message inside a message/rfc822 part."""
        if self.mime_type != "message/rfc822" or self.depth >= MAX_DEPTH:
            return None
        return parse_part(self.body, self.depth + 1)


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    mark = re.escape(boundary.encode("utf-8", "surrogateescape"))
    tail = rb"(--)?[ \t]*(?:\r\n|\Z)"
    # Patterns that start with a literal are searched fast (a leading `\A|`
    # alternative made a 25 MB body take 0.2 s); the delimiter that opens the
    # body without a CRLF before it is matched on its own.
    first = re.compile(rb"--" + mark + tail).match(body)
    rest = re.compile(rb"\r\n--" + mark + tail).finditer(body, first.end() if first else 0)
    parts: list[bytes] = []
    start: int | None = None
    for match in itertools.chain([first] if first else [], rest):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):
            break
        start = match.end()
    return parts


def parse_part(data: bytes, depth: int = 0, default_type: str = "text/plain") -> MimePart:
    """Parse one entity and, within the depth bound, its children."""
    header, body = split_header(data)
    part = MimePart(header, body, depth, default_type)
    boundary = part.boundary
    if not part.is_multipart or boundary is None or depth >= MAX_DEPTH:
        return part
    child_type = "message/rfc822" if part.subtype == "digest" else "text/plain"
    chunks = _split_multipart(body, boundary)
    children = tuple(parse_part(chunk, depth + 1, child_type) for chunk in chunks)
    return MimePart(header, body, depth, default_type, children)


def parse_message(data: bytes) -> MimePart:
    """The top-level message."""
    return parse_part(data)
