"""The base64 functions give, piece by piece, what one call over the whole body gives.

`message.transfer_encoding` decodes and checks base64 in pieces of `PIECE`
octets (so a worker thread never holds the GIL for a whole attachment); here
`PIECE` is made tiny so that every boundary case (a quantum, a line break or
the padding split across pieces) is met, and the answers are compared with
the whole-body forms of RFC 2045 6.8 written out below.
"""

from __future__ import annotations

import binascii
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from message import transfer_encoding
from message.transfer_encoding import base64_defect, decode_base64

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_ALPHABET)))


def whole_decode(data: bytes) -> bytes:
    clean = data.translate(None, _NOT_BASE64)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def whole_defect(data: bytes) -> str | None:
    text = data.translate(None, b" \t\r\n")
    if re.fullmatch(rb"[A-Za-z0-9+/]*={0,2}", text) is None:
        return "invalid base64 characters or padding"
    return "truncated base64" if len(text) % 4 else None


bodies = st.lists(st.sampled_from([b"QUJD", b"RA==", b"RQ=", b"=", b"\r\n", b" ", b"A", b"\x00",
                                   b"-", b"TWFu", b"+/9z"]), max_size=40).map(b"".join)


@pytest.mark.parametrize("piece", [1, 3, 4, 5, 7])
@given(data=st.one_of(bodies, st.binary(max_size=80)))
@example(data=b"QUJD\r\nRA=\r\n=")
@example(data=b"QUJDRA==QUJD")
def test_pieces_agree_with_the_whole_body(piece: int, data: bytes) -> None:
    saved = transfer_encoding.PIECE
    transfer_encoding.PIECE = piece
    try:
        assert decode_base64(data) == whole_decode(data)
        assert base64_defect(data) == whole_defect(data)
    finally:
        transfer_encoding.PIECE = saved
