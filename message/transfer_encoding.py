"""Content-Transfer-Encoding decoding of a part's body.

Owns: `decode_transfer(body, encoding)`, the octets of a body without its
transfer encoding, and the two decoders it uses, `decode_base64` and
`quoted_printable`. The IMAP engine's BINARY[section] and SEARCH BODY/TEXT
(`message.text`) decode bodies through this one function.

Invariants: 7BIT, 8BIT and BINARY (and no encoding) return the body as it
is; BASE64 and QUOTED-PRINTABLE are decoded leniently (stray characters
skipped, missing padding tolerated, invalid escapes kept), so a damaged body
yields its best decoding and never an exception; any other encoding returns
None and the caller decides (BINARY answers UNKNOWN-CTE, SEARCH reads the
octets as they are); the encoding name compares case-insensitively.

Ref: RFC 2045 6.1-6.4 (identity encodings), 6.7 (quoted-printable), 6.8 (base64).
"""

from __future__ import annotations

import binascii
import re

IDENTITY = frozenset({"", "7BIT", "8BIT", "BINARY"})
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_base64(data: bytes) -> bytes:
    """RFC 2045 6.8: characters outside the alphabet skipped, padding restored."""
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
