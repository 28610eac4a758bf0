"""Content-Transfer-Encoding decoding of a part's body.

Owns: `decode_transfer(body, encoding)`, the octets of a body without its
transfer encoding, the two decoders it uses, `decode_base64` and
`quoted_printable`, `decode_base64_head` (the first octets of a base64 body's
decoding, the rest not read), and `base64_defect`, which says why a base64 body
is not valid (the gateway's malformed-MIME check). The IMAP engine's
BINARY[section] and SEARCH BODY/TEXT (`message.text`) and the gateway's
content check (`message.content_facts`) decode bodies through this one function.

Invariants: 7BIT, 8BIT and BINARY (and no encoding) return the body as it
is; BASE64 and QUOTED-PRINTABLE are decoded leniently (stray characters
skipped, missing padding tolerated, invalid escapes kept), so a damaged body
yields its best decoding and never an exception; any other encoding returns
None and the caller decides (BINARY answers UNKNOWN-CTE, SEARCH reads the
octets as they are); the encoding name compares case-insensitively; the
base64 functions work in pieces of `PIECE` octets, so none holds the GIL for
a whole large attachment, and read a body given as a range of the message's
octets (`start`, `stop`) without copying it out; `base64_defect` checks the
windows made of lines shaped as the body's first line with one mapping and
one comparison each (every encoder writes fixed-length lines), any other
window character by character, with the same answer.

Ref: RFC 2045 6.1-6.4 (identity encodings), 6.7 (quoted-printable), 6.8 (base64).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

IDENTITY = frozenset({"", "7BIT", "8BIT", "BINARY"})
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_ALPHABET)))  # deleted by bytes.translate
# Alphabet characters read as `A`, line breaks kept, anything else read as `.`.
_SHAPE = bytes(0x41 if c in _ALPHABET else c if c in b"\r\n" else 0x2E for c in range(256))
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
PIECE = 1 << 16  # input octets per C call of the base64 functions (about 0.25 ms each)


def _windows(data: bytes, start: int, stop: int, size: int) -> Iterator[bytes]:
    """`data[start:stop]` in slices of at most `size` octets (one C call each)."""
    for at in range(start, stop, size):
        yield data[at : min(stop, at + size)]


def _pieces(data: bytes, drop: bytes, start: int, stop: int) -> Iterator[bytes]:
    """`data[start:stop]` without the bytes of `drop`, in pieces of at most `PIECE` input octets.

    Each C call (slice, translate, decode, check) then covers at most `PIECE`
    octets: a worker thread decoding a 25 MB attachment hands the GIL back to
    the event loop between pieces instead of holding it for one 100 ms call."""
    for piece in _windows(data, start, stop, PIECE):
        yield piece.translate(None, drop)


def _decoded(data: bytes, start: int, stop: int) -> Iterator[bytes]:
    """The decoding of `data[start:stop]`, piece by piece (RFC 2045 6.8, leniently)."""
    carry = b""
    for piece in _pieces(data, _NOT_BASE64, start, stop):
        text = carry + piece
        whole = len(text) - len(text) % 4
        yield binascii.a2b_base64(text[:whole])
        carry = text[whole:]
    if len(carry) > 1:  # one lone character encodes nothing and is dropped
        yield binascii.a2b_base64(carry + b"=" * (-len(carry) % 4))


def decode_base64(data: bytes, start: int = 0, stop: int | None = None) -> bytes:
    """RFC 2045 6.8: characters outside the alphabet skipped, padding restored.

    Decodes `data[start:stop]` (the body of a part, read in the message's own octets)."""
    return b"".join(_decoded(data, start, len(data) if stop is None else stop))


def decode_base64_head(data: bytes, size: int, start: int = 0,
                       stop: int | None = None) -> tuple[bytes, bool]:
    """(the first octets of `decode_base64(data, start, stop)`, whether they are all of it).

    At least `size` octets are decoded, or all of them; the rest of the body is
    not read (a file's type is decided on its first octets)."""
    out: list[bytes] = []
    got = 0
    for chunk in _decoded(data, start, len(data) if stop is None else stop):
        out.append(chunk)
        got += len(chunk)
        if got >= size:
            return b"".join(out), False
    return b"".join(out), True


def _regular_windows(data: bytes, start: int, stop: int) -> Iterator[tuple[bytes, int]]:
    """(window, letters) over `data[start:stop]`: `letters` > 0 when the window is made of
    lines shaped as the body's first line (alphabet characters and line breaks only), then
    the number of alphabet characters it holds; 0 for any other window.

    Windows hold whole lines of the first line's length, `PIECE` octets at most, so
    a body written in fixed-length lines (every encoder's output) is checked with one
    mapping and one comparison per window."""
    eol = data.find(b"\n", start, min(stop, start + PIECE))
    line = data[start : eol + 1].translate(_SHAPE) if eol >= 0 else b""
    letters = line.count(b"A")
    lines = PIECE // len(line) if line else 0
    if not letters or b"." in line or not lines:
        for window in _windows(data, start, stop, PIECE):
            yield window, 0
        return
    size, template = lines * len(line), line * lines
    for window in _windows(data, start, stop, size):
        regular = len(window) == size and window.translate(_SHAPE) == template
        yield window, letters * lines if regular else 0


def base64_defect(data: bytes, start: int = 0, stop: int | None = None) -> str | None:
    """Why the base64 body `data[start:stop]` is not valid RFC 2045 6.8 base64 (None when it is).

    Line breaks and blanks are allowed anywhere; other characters, padding
    before the end, and a length that leaves a lone character are defects.
    """
    length = padding = 0
    for window, letters in _regular_windows(data, start, len(data) if stop is None else stop):
        if letters:
            if padding:
                return "invalid base64 characters or padding"
            length += letters
            continue
        piece = window.translate(None, b" \t\r\n")
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
