"""Properties of the gateway's content walk (`message/content_facts.py` and the readers it
uses: `file_type`, `archives`, `office`): on any octets, and on real messages carrying
archives, office documents and OLE2 files whose octets are damaged, it never raises, it
stays within its bounds, and it keeps no file name.
"""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from message.archives import ScanBounds
from message.content_facts import scan_content
from message.file_type import detect
from tests import attachment_files as f

_FILES = [f.zip_of([("a.pdf", f.pdf()), ("IHE_XDM/S/METADATA.XML", f.CDA)]), f.docm(),
          f.docx_with_macro(hidden=True), f.word_97(macro=True),
          f.packaged_object("x.exe", f.pe()), f.aes_zip([("a.txt", b"x")]), f.nested_zip(3),
          f.odt(macro=True), f.xdm()]
_BOUNDS = ScanBounds(max_parts=50, max_archive_size=2_000_000)


def _message(data: bytes) -> bytes:
    return (b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
            b"Content-Type: application/octet-stream; name=\"secret-name.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--z--\r\n")


@given(st.binary(max_size=2048))
def test_any_octets(raw: bytes) -> None:
    facts = scan_content(raw, _BOUNDS)
    assert len(facts.items) <= _BOUNDS.max_parts
    assert isinstance(detect(raw), str)


@given(st.sampled_from(_FILES), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                         max_size=8), st.integers(0, 10**6))
def test_damaged_containers(data: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    damaged = bytearray(data)
    for at, value in flips:
        damaged[at % len(damaged)] = value
    damaged = damaged[:max(cut % (len(damaged) + 1), 1)]
    facts = scan_content(_message(bytes(damaged)), _BOUNDS)
    assert len(facts.items) <= _BOUNDS.max_parts
    assert all("secret-name" not in repr(item) for item in facts.items)
