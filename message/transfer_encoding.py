"""Content-Transfer-Encoding decoding of a part's body.

Owns: `decode_transfer(body, encoding)`, the octets of a body without its
transfer encoding, the two decoders it uses, `decode_base64` and
`quoted_printable`, and `base64_defect`, which says why a base64 body is not
valid (the gateway's malformed-MIME check). The IMAP engine's
BINARY[section] and SEARCH BODY/TEXT (`message.text`) and the gateway's
content check (`message.content_facts`) decode bodies through this one function.

Invariants: 7BIT, 8BIT and BINARY (and no encoding) return the body as it
is; BASE64 and QUOTED-PRINTABLE are decoded leniently (stray characters
skipped, missing padding tolerated, invalid escapes kept), so a damaged body
yields its best decoding and never an exception; any other encoding returns
None and the caller decides (BINARY answers UNKNOWN-CTE, SEARCH reads the
octets as they are); the encoding name compares case-insensitively; the
base64 functions work in pieces of `PIECE` octets, so none holds the GIL for
a whole large attachment.

Ref: RFC 2045 6.1-6.4 (identity encodings), 6.7 (quoted-printable), 6.8 (base64).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

IDENTITY = frozenset({"", "7BIT", "8BIT", "BINARY"})
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_ALPHABET)))  # deleted by bytes.translate
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
PIECE = 1 << 16  # input octets per C call of the base64 functions (about 0.25 ms each)


def _pieces(data: bytes, drop: bytes) -> Iterator[bytes]:
    """`data` without the bytes of `drop`, in pieces of at most `PIECE` input octets.

    Each C call (slice, translate, decode, check) then covers at most `PIECE`
    octets: a worker thread decoding a 25 MB attachment hands the GIL back to
    the event loop between pieces instead of holding it for one 100 ms call."""
    for start in range(0, len(data), PIECE):
        yield data[start : start + PIECE].translate(None, drop)


def decode_base64(data: bytes) -> bytes:
    """RFC 2045 6.8: characters outside the alphabet skipped, padding restored."""
    out: list[bytes] = []
    carry = b""
    for piece in _pieces(data, _NOT_BASE64):
        text = carry + piece
        whole = len(text) - len(text) % 4
        out.append(binascii.a2b_base64(text[:whole]))
        carry = text[whole:]
    if len(carry) > 1:  # one lone character encodes nothing and is dropped
        out.append(binascii.a2b_base64(carry + b"=" * (-len(carry) % 4)))
    return b"".join(out)


def base64_defect(data: bytes) -> str | None:
    """Why a base64 body is not valid RFC 2045 6.8 base64 (None when it is).

    Line breaks and blanks are allowed anywhere; other characters, padding
    before the end, and a length that leaves a lone character are defects.
    """
    length = padding = 0
    for piece in _pieces(data, b" \t\r\n"):
        text = piece.rstrip(b"=")
        if (padding and text) or text.translate(None, _ALPHABET):
            return "invalid base64 characters or padding"
        padding += len(piece) - len(text)
        length += len(piece)
    if padding > 2:
        return "invalid base64 characters or padding"
    return "truncated base64" if length % 4 else None


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


def decode_transfer(body: bytes, encoding: str) -> bytes | None:
    """`body` without the transfer `encoding`; None for an encoding not handled here."""
    name = encoding.strip().upper()
    if name in IDENTITY:
        return body
    if name == "BASE64":
        return decode_base64(body)
    if name == "QUOTED-PRINTABLE":
        return quoted_printable(body)
    return None
