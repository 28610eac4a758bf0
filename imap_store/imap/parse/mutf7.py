"""Modified UTF-7 mailbox names (RFC 3501 5.1.3).

Owns: strict decoding of wire mailbox names to Unicode and encoding back.

Invariants: decoding accepts only printable US-ASCII outside shift sequences;
`&-` is `&`; a shift sequence is `&` modified-BASE64 (`,` for `/`, no padding)
`-` holding UTF-16BE without lone surrogates and without characters that must
be sent as themselves (printable ASCII). Anything else, such as a bare `&`,
raises `ValueError`.
"""

from __future__ import annotations

import base64
import binascii

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def decode(name: bytes) -> str:
    """Wire name -> Unicode; ValueError when not valid modified UTF-7."""
    out: list[str] = []
    pos = 0
    while pos < len(name):
        byte = name[pos]
        if byte == 0x26:  # RFC 3501 5.1.3: "&" starts a shift to modified BASE64
            end = name.find(b"-", pos + 1)
            if end < 0:
                raise ValueError("unterminated shift sequence")
            out.append(_decode_shift(name[pos + 1 : end]))
            pos = end + 1
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
            pos += 1
        else:
            raise ValueError("8-bit or control character in mailbox name")
    return "".join(out)


def _decode_shift(chunk: bytes) -> str:
    if not chunk:  # RFC 3501 5.1.3: "&-" is "&" itself
        return "&"
    if not _B64.issuperset(chunk) or len(chunk) % 4 == 1:
        raise ValueError("invalid modified BASE64")
    # RFC 3501 5.1.3: "," stands for "/" and there is no "=" padding.
    padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        text = raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid UTF-16 in shift sequence") from exc
    if any(0x20 <= ord(ch) <= 0x7E for ch in text):  # RFC 3501 5.1.3: sent as themselves
        raise ValueError("printable ASCII must not be encoded")
    return text


def encode(name: str) -> bytes:
    """Unicode -> wire name in modified UTF-7."""
    out = bytearray()
    pending: list[str] = []
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            out += _flush(pending)
            out += b"&-" if ch == "&" else ch.encode("ascii")
        else:
            pending.append(ch)
    out += _flush(pending)
    return bytes(out)


def _flush(pending: list[str]) -> bytes:
    if not pending:
        return b""
    raw = "".join(pending).encode("utf-16-be", "surrogatepass")
    pending.clear()
    b64 = base64.b64encode(raw).rstrip(b"=").replace(b"/", b",")
    return b"&" + b64 + b"-"
