"""Byte-exact MIME structure of a message, for section fetches.

Owns: `MimePart` (header bytes, body bytes, children, encapsulated message),
`parse_message`, header field splitting, and `section_bytes`, which returns
the exact octets of a BODY[section] from the original message.

Invariants: sections are cut from the original bytes, never re-serialised;
multipart nesting is bounded (`MAX_DEPTH`, deeper parts are leaves) so a
hostile message cannot exhaust the stack; a section that does not exist
yields None (sent as NIL).

Ref: RFC 3501 6.4.5 (section numbering, HEADER, HEADER.FIELDS[.NOT], TEXT,
MIME), RFC 2045 (header fields), RFC 2046 5.1.1 (boundaries), RFC 5322 2.2.3
(folding).
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import re
from dataclasses import dataclass, field
from functools import cached_property

from .fetch_spec import Section

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
    boundary = part.info.get_boundary()
    if part.info.get_content_maintype() != "multipart" or not boundary or depth >= MAX_DEPTH:
        return part
    child_type = "message/rfc822" if part.info.get_content_subtype() == "digest" else "text/plain"
    chunks = _split_multipart(body, boundary)
    children = tuple(parse_part(chunk, depth + 1, child_type) for chunk in chunks)
    return MimePart(header, body, depth, default_type, children)


def parse_message(data: bytes) -> MimePart:
    """The top-level message."""
    return parse_part(data)


def _child(part: MimePart, number: int, top: bool) -> MimePart | None:
    if part.children:
        return part.children[number - 1] if number <= len(part.children) else None
    inner = None if top else part.encapsulated
    if inner is not None:
        return _child(inner, number, True)
    return part if number == 1 else None


def find_part(root: MimePart, path: tuple[int, ...]) -> MimePart | None:
    """The part named by a section part path (RFC 3501 6.4.5)."""
    part: MimePart | None = root
    for index, number in enumerate(path):
        if part is None:
            return None
        part = _child(part, number, top=index == 0)
    return part


def _message_text(message: MimePart, section: Section) -> bytes:
    if section.text == "HEADER":
        return message.header
    if section.text == "TEXT":
        return message.body
    wanted = {name.lower() for name in section.fields}
    keep = section.text == "HEADER.FIELDS"
    kept = [raw for name, raw in header_fields(message.header) if (name in wanted) == keep]
    return b"".join(kept) + b"\r\n"


def section_bytes(root: MimePart, section: Section) -> bytes | None:
    """The octets of BODY[section], or None when the section does not exist."""
    if not section.part:
        return root.raw if section.text is None else _message_text(root, section)
    part = find_part(root, section.part)
    if part is None:
        return None
    if section.text is None:
        return part.body
    if section.text == "MIME":
        return part.header
    inner = part.encapsulated
    return None if inner is None else _message_text(inner, section)
