"""The base64 check and decoding of a body written in lines (`message.transfer_encoding`).

`base64_defect` reads a body in windows of whole lines shaped as its first
line, each checked with one mapping and one comparison, and any other window
character by character; `decode_base64_head` decodes only the start of a body.
Here bodies in fixed-length lines (LF or CRLF) are damaged at random places
(a stray character, a blank, padding, a line of another length, a cut) and read
in the middle of other octets; the answers must be those of the whole-body
forms of RFC 2045 6.8 (`test_transfer_pieces`), whatever `PIECE`.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from message import transfer_encoding
from message.transfer_encoding import base64_defect, decode_base64, decode_base64_head
from tests.property.test_transfer_pieces import whole_decode, whole_defect

_JUNK = [b"=", b"==", b" ", b"\t", b"!", b"\r\n", b"\n", b"A", b"\x00", b"QUJD"]


@st.composite
def line_bodies(draw: st.DrawFn) -> bytes:
    size = draw(st.integers(0, 600))
    line = draw(st.integers(1, 90))
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    text = base64.b64encode(bytes(range(256)) * (size // 256) + bytes(size % 256))
    body = bytearray(eol.join(text[at : at + line] for at in range(0, len(text), line)) + eol)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(body)))
        body[at:at] = draw(st.sampled_from(_JUNK))
    return bytes(body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body)


@pytest.mark.parametrize("piece", [4, 16, 83, 200, 1 << 16])
@given(data=line_bodies(), before=st.binary(max_size=5), after=st.binary(max_size=5))
@example(data=b"QUJD\r\n" * 40 + b"RA==\r\n", before=b"", after=b"")
@example(data=b"QUJD\r\n" * 40 + b"RA==\r\nQUJD\r\n" * 8, before=b"", after=b"")
@example(data=b"QUJD\r\n" * 40 + b"RA=\r\n", before=b"", after=b"")
def test_line_windows_agree_with_the_whole_body(piece: int, data: bytes, before: bytes,
                                                after: bytes) -> None:
    saved = transfer_encoding.PIECE
    transfer_encoding.PIECE = piece
    try:
        source, start, stop = before + data + after, len(before), len(before) + len(data)
        assert base64_defect(source, start, stop) == whole_defect(data)
        decoded = whole_decode(data)
        assert decode_base64(source, start, stop) == decoded
        for size in (0, 1, 50, 300):
            head, complete = decode_base64_head(source, size, start, stop)
            assert decoded.startswith(head) and (len(head) >= size or complete)
            assert not complete or head == decoded
    finally:
        transfer_encoding.PIECE = saved
