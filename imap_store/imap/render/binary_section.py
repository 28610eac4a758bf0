"""BINARY[section]: a part's content with its transfer encoding removed.

Owns: `binary_bytes(root, part_path)`, the decoded octets of a part, and the
value they are sent as (`binary_value`); the transfer decoding itself is
`message.transfer_encoding`.

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

from imap_store.imap.errors import CommandNo
from message.mime_tree import MimePart
from message.transfer_encoding import decode_transfer, quoted_printable

from .mime_parts import find_part
from .response import NIL, Literal8, LiteralString, Nil, code

__all__ = ["binary_bytes", "binary_value", "decode_body", "quoted_printable"]


def decode_body(part: MimePart) -> bytes:
    """The body of `part` without its Content-Transfer-Encoding."""
    if part.is_multipart or part.encapsulated is not None:
        return part.body
    decoded = decode_transfer(part.body, part.header_text("content-transfer-encoding") or "")
    if decoded is None:
        # RFC 3516 4.3: an encoding the server cannot decode is NO [UNKNOWN-CTE].
        raise CommandNo("Unknown content transfer encoding", code("UNKNOWN-CTE"))
    return decoded


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
