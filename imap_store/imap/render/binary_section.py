"""BINARY[section]: a part's content with its transfer encoding removed.

Owns: `binary_bytes(root, part_path)`, the decoded octets of a part, and the
value they are sent as (`binary_value`).

Invariants: 7BIT, 8BIT and BINARY (and multiparts, message/rfc822 parts) are
returned as they are; BASE64 and QUOTED-PRINTABLE are decoded leniently
(stray characters skipped, missing padding tolerated), so a damaged part
yields its best decoding and never an exception; any other encoding raises
`CommandNo [UNKNOWN-CTE]`; `BINARY[]` of a single-part message decodes its
body after the unchanged header; data holding NUL is sent as `literal8`.

Ref: RFC 3516 4.2 (BINARY, BINARY.SIZE), 4.3 (response, literal8,
UNKNOWN-CTE); RFC 2045 6.7, 6.8 (quoted-printable, base64).
"""

from __future__ import annotations

import binascii
import re

from imap_store.imap.errors import CommandNo
from message.mime_tree import MimePart

from .mime_parts import find_part
from .response import NIL, Literal8, LiteralString, Nil, code

IDENTITY = frozenset({"", "7BIT", "8BIT", "BINARY"})
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _base64(data: bytes) -> bytes:
    clean = _NOT_BASE64.sub(b"", data)
    clean = clean[: len(clean) - len(clean) % 4 if len(clean) % 4 == 1 else len(clean)]
    return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def _qp_line(line: bytes) -> bytes:
    return _QP_ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), line)


def quoted_printable(data: bytes) -> bytes:
    """RFC 2045 6.7: trailing blanks dropped, `=` at the end joins lines."""
    out: list[bytes] = []
    lines = data.split(b"\n")
    for index, line in enumerate(lines):
        text = line.removesuffix(b"\r").rstrip(b" \t")
        soft = text.endswith(b"=")
        out.append(_qp_line(text[:-1] if soft else text))
        if not soft and index < len(lines) - 1:
            out.append(b"\r\n")
    return b"".join(out)


def decode_body(part: MimePart) -> bytes:
    """The body of `part` without its Content-Transfer-Encoding."""
    if part.is_multipart or part.encapsulated is not None:
        return part.body
    encoding = (part.header_text("content-transfer-encoding") or "").upper()
    if encoding in IDENTITY:
        return part.body
    if encoding == "BASE64":
        return _base64(part.body)
    if encoding == "QUOTED-PRINTABLE":
        return quoted_printable(part.body)
    # RFC 3516 4.3: an encoding the server cannot decode is NO [UNKNOWN-CTE].
    raise CommandNo("Unknown content transfer encoding", code("UNKNOWN-CTE"))


def binary_bytes(root: MimePart, path: tuple[int, ...]) -> bytes | None:
    """Decoded octets of BINARY[path], None when the part does not exist."""
    if not path:
        return root.raw if root.is_multipart else root.header + decode_body(root)
    part = find_part(root, path)
    return None if part is None else decode_body(part)


def binary_value(data: bytes | None) -> Literal8 | LiteralString | Nil:
    """`nstring` for data without NUL, `literal8` otherwise (RFC 3516 4.3)."""
    if data is None:
        return NIL
    return Literal8(data) if 0 in data else LiteralString(data)  # RFC 3516 4.3: NUL needs literal8
