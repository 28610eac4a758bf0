"""APPEND of binary content (literal8): parts holding NUL are stored base64.

Owns: `without_nul(raw)`, which rewrites every leaf part whose body holds a
NUL octet as a base64 part (its other header fields kept, its
Content-Transfer-Encoding replaced), so that BODY[] and RFC822 never carry
NUL (RFC 3501 `literal` is CHAR8, NUL excluded) while BINARY[] gives the
original octets back (RFC 3516 4.4 lets the server store such content in a
transfer encoding).

Invariants: a message without NUL is returned unchanged (same bytes); parts
are rewritten in place, everything else is kept byte for byte; a NUL outside
any body part (in a header) refuses the message with `NO [CANNOT]`.

Ref: RFC 3516 4.4; RFC 2045 6.8 (base64, 76-character lines).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

from imap_store.imap.render.response import code
from message.mime_tree import MimePart, header_fields, parse_message

from .errors import CommandNo

_LINE = 57


def _leaves(part: MimePart) -> Iterator[MimePart]:
    if part.children:
        for child in part.children:
            yield from _leaves(child)
    elif part.encapsulated is not None:
        yield from _leaves(part.encapsulated)
    else:
        yield part


def _as_base64(part: MimePart) -> bytes:
    kept = [raw for name, raw in header_fields(part.header)
            if name != "content-transfer-encoding"]
    header = b"".join(kept) + b"Content-Transfer-Encoding: base64\r\n\r\n"
    body = part.body
    lines = [base64.b64encode(body[i : i + _LINE]) for i in range(0, len(body), _LINE)]
    return header + b"\r\n".join(lines)


def without_nul(raw: bytes) -> bytes:
    """The message with its NUL-holding parts stored as base64."""
    if b"\x00" not in raw:
        return raw
    out: list[bytes] = []
    pos = 0
    for part in _leaves(parse_message(raw)):
        chunk = part.header + part.body
        at = raw.find(chunk, pos) if b"\x00" in part.body else -1
        if at >= 0:
            out += [raw[pos:at], _as_base64(part)]
            pos = at + len(chunk)
    result = b"".join(out) + raw[pos:]
    if b"\x00" in result:
        raise CommandNo("NUL octets outside a body part", code("CANNOT"))
    return result
