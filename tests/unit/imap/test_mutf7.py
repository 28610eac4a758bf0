"""Modified UTF-7 (RFC 3501 5.1.3)."""

import pytest

from imap_store.imap.parse import mutf7

PAIRS = [
    ("INBOX", b"INBOX"),
    ("a&b", b"a&-b"),
    ("Données", b"Donn&AOk-es"),
    ("日本語", b"&ZeVnLIqe-"),
    ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("😀", b"&2D3eAA-"),
]


@pytest.mark.parametrize(("text", "wire"), PAIRS)
def test_round_trip(text: str, wire: bytes) -> None:
    assert mutf7.encode(text) == wire
    assert mutf7.decode(wire) == text


@pytest.mark.parametrize("wire", [
    b"&", b"a&b", b"&AGE", b"&AEE-", b"&Jjo!-", b"&2D0-", b"caf\xc3\xa9", b"tab\there",
    b"&A-", b"&////-",
])
def test_invalid(wire: bytes) -> None:
    with pytest.raises(ValueError):
        mutf7.decode(wire)
