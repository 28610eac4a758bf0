"""Byte-exact MIME structure of a message.

Owns: `MimePart` (header bytes, body bytes, children, encapsulated message),
`parse_message`, and header field splitting (`split_header`, `header_fields`,
`field_value`). The IMAP engine cuts BODY[section] octets from this tree and
`message_meta` computes ENVELOPE and BODYSTRUCTURE from it.

Invariants: parts keep the original octets, never re-serialised; multipart
nesting is bounded (`MAX_DEPTH`, deeper parts are leaves) so a hostile
message cannot exhaust the stack; nothing here raises on malformed input.

Ref: RFC 2045 (header fields), RFC 2046 5.1.1 (boundaries: the CRLF before a
delimiter belongs to the delimiter), RFC 5322 2.2.3 (folding).
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import re
from dataclasses import dataclass, field
from functools import cached_property

from .mime_params import header_params

MAX_DEPTH = 32
_FIELD_START = re.compile(rb"^(?=[^ \t])", re.MULTILINE)
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def split_header(data: bytes) -> tuple[bytes, bytes]:
    """(header including its blank line, body)."""
    if data.startswith(b"\r\n"):
        return b"\r\n", data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data, b""
    return data[: end + 4], data[end + 4 :]


def header_fields(header: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, raw field with its CRLF) in message order."""
    text = header[:-2] if header.endswith(b"\r\n\r\n") else header
    fields = []
    for chunk in _FIELD_START.split(text):
        if not chunk.strip():
            continue
        name = chunk.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
        fields.append((name, chunk if chunk.endswith(b"\n") else chunk + b"\r\n"))
    return fields


def field_value(raw: bytes) -> bytes:
    """The unfolded, trimmed value of one raw header field."""
    value = raw.split(b":", 1)[1] if b":" in raw else b""
    return _FOLD.sub(b"", value).strip()


@dataclass(frozen=True)
class MimePart:
    """One entity: its header, its body, and its structure."""

    header: bytes
    body: bytes
    depth: int = 0
    default_type: str = "text/plain"
    children: tuple[MimePart, ...] = field(default=(), compare=False)

    @cached_property
    def info(self) -> email.message.Message:
        """The header parsed by the standard library (types, parameters)."""
        parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        message = parser.parsebytes(self.header)
        message.set_default_type(self.default_type)
        return message

    @property
    def raw(self) -> bytes:
        """Header and body as received."""
        return self.header + self.body

    @cached_property
    def boundary(self) -> str | None:
        """The Content-Type boundary, unfolded (RFC 5322 2.2.3: a folded value
        keeps its space) and unquoted."""
        value = self.info.get("content-type")
        if value is None:
            return None
        return dict(header_params(str(value))[1]).get("BOUNDARY") or None

    @property
    def is_multipart(self) -> bool:
        """True for a multipart entity with a boundary (it has children)."""
        return self.info.get_content_maintype() == "multipart" and self.boundary is not None

    @cached_property
    def encapsulated(self) -> MimePart | None:
        """The message inside a message/rfc822 part."""
        if self.info.get_content_type() != "message/rfc822" or self.depth >= MAX_DEPTH:
            return None
        return parse_part(self.body, self.depth + 1)


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    mark = re.escape(boundary.encode("utf-8", "replace"))
    delimiter = re.compile(rb"(?:\A|\r\n)--" + mark + rb"(--)?[ \t]*(?:\r\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
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
    child_type = "message/rfc822" if part.info.get_content_subtype() == "digest" else "text/plain"
    chunks = _split_multipart(body, boundary)
    children = tuple(parse_part(chunk, depth + 1, child_type) for chunk in chunks)
    return MimePart(header, body, depth, default_type, children)


def parse_message(data: bytes) -> MimePart:
    """The top-level message."""
    return parse_part(data)
