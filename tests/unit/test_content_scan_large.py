"""The content walk on large and damaged leaves (`message.content_facts`): a file's type is
decided on its first decoded octets, the rest of a base64 body is only checked, and only a
ZIP or OLE file is decoded whole; the facts are those of the whole file on every input
(ZIP, OLE, PDF, EICAR, invalid or truncated base64, a missing close delimiter, attached
messages, with or without a transfer encoding).
"""

from __future__ import annotations

import base64
import binascii
import random
import zipfile

import pytest

from message.content_facts import scan_content
from message.file_type import HEAD
from message.mime_tree import parse_message
from message.octets import COPY_WINDOW, octets
from smtp_gateway.content_check import ContentInspection
from tests import attachment_files as f

ZIP, OLE, PDF = "application/zip", "application/x-ole-storage", "application/pdf"
BIN, TXT, DOC = "application/octet-stream", "text/plain", "application/msword"
INVALID, TRUNCATED = "invalid base64 characters or padding", "truncated base64"


def _random(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


BIG_PDF = b"%PDF-1.4\n" + _random(400_000)
BIG_ZIP = f.zip_of([("a.pdf", f.pdf()), ("b.bin", _random(300_000, 8))], zipfile.ZIP_STORED)
BIG_OLE = f.word_97(macro=True) + b"\x00" * 100_000  # sectors past the last one are not read


def b64(data: bytes, line: int = 76, eol: bytes = b"\r\n") -> bytes:
    text = base64.b64encode(data)
    return eol.join(text[at : at + line] for at in range(0, len(text), line)) + eol


def leaf(body: bytes, encoding: str = "base64", kind: str = "application/octet-stream",
         name: str = "f.bin") -> bytes:
    return (f'Content-Type: {kind}; name="{name}"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode() + body


def mixed(*parts: bytes, close: bool = True, mark: bytes = b"zz") -> bytes:
    text = (b"From: a@example.test\r\nTo: b@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="' + mark + b'"\r\n\r\n'
            b"--" + mark + b"\r\nContent-Type: text/plain\r\n\r\nCi-joint.\r\n")
    for part in parts:
        text += b"\r\n--" + mark + b"\r\n" + part
    return text + (b"\r\n--" + mark + b"--\r\n" if close else b"")


def rfc822(inner: bytes, encoding: str = "base64") -> bytes:
    body = b64(inner) if encoding == "base64" else inner
    return (b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
            + encoding.encode() + b"\r\n\r\n" + body)


def damaged(text: bytes, at: int, junk: bytes) -> bytes:
    return text[:at] + junk + text[at:]


Item = tuple[str, str, str, frozenset[str]]
BODY: Item = ("1", "body", TXT, frozenset())
ZIP_ITEMS: list[Item] = [("2", "file", ZIP, frozenset()), ("2/1", "entry", PDF, frozenset()),
             ("2/2", "entry", BIN, frozenset())]
PDF_TEXT = b64(BIG_PDF)
CASES = {
    "big pdf": (mixed(leaf(PDF_TEXT)), [BODY, ("2", "file", PDF, frozenset())], []),
    "big zip": (mixed(leaf(b64(BIG_ZIP))), [BODY, *ZIP_ITEMS], []),
    "big zip, 64-character lines": (mixed(leaf(b64(BIG_ZIP, 64))), [BODY, *ZIP_ITEMS], []),
    "big zip, LF line ends": (mixed(leaf(b64(BIG_ZIP, 76, b"\n"))), [BODY, *ZIP_ITEMS], []),
    "big zip, one line": (mixed(leaf(b64(BIG_ZIP, 10**9))), [BODY, *ZIP_ITEMS], []),
    "big zip, binary": (mixed(leaf(BIG_ZIP, "binary")), [BODY, *ZIP_ITEMS], []),
    "big zip, unknown encoding": (mixed(leaf(BIG_ZIP, "x-gzip")), [BODY, *ZIP_ITEMS],
                                  ["part 2: unknown transfer encoding"]),
    "big ole": (mixed(leaf(b64(BIG_OLE))), [BODY, ("2", "file", DOC, frozenset({"macro"}))], []),
    "eicar, then white space": (mixed(leaf(b64(f.EICAR) + b"\r\n" * 100_000)),
                                [BODY, ("2", "file", TXT, frozenset({"eicar"}))], []),
    "eicar, trailing blanks": (mixed(leaf(b64(f.EICAR + b" " * 60))),
                               [BODY, ("2", "file", TXT, frozenset({"eicar"}))], []),
    "eicar, too long": (mixed(leaf(b64(f.EICAR + b" " * 61))),
                        [BODY, ("2", "file", TXT, frozenset())], []),
    "eicar among junk": (mixed(leaf(b"!" * 200_000 + b64(f.EICAR))),
                         [BODY, ("2", "file", TXT, frozenset({"eicar"}))], ["part 2: " + INVALID]),
    "pdf, invalid character at its end": (
        mixed(leaf(damaged(PDF_TEXT, len(PDF_TEXT) - 50, b"!"))),
        [BODY, ("2", "file", PDF, frozenset())], ["part 2: " + INVALID]),
    "pdf, a blank inside": (mixed(leaf(damaged(PDF_TEXT, len(PDF_TEXT) // 2, b" "))),
                            [BODY, ("2", "file", PDF, frozenset())], []),
    "pdf, padding in the middle": (mixed(leaf(damaged(PDF_TEXT, 300_000, b"=="))),
                                   [BODY, ("2", "file", PDF, frozenset())],
                                   ["part 2: " + INVALID]),
    "pdf, truncated": (mixed(leaf(PDF_TEXT[:-3] + b"\r\n")),
                       [BODY, ("2", "file", PDF, frozenset())], ["part 2: " + TRUNCATED]),
    "zip, truncated": (mixed(leaf(b64(BIG_ZIP)[:-7] + b"\r\n")),
                       [BODY, ("2", "file", ZIP, frozenset({"unreadable"}))],
                       ["part 2: " + TRUNCATED]),
    "zip, without the close delimiter": (
        mixed(leaf(b64(BIG_PDF)), leaf(b64(BIG_ZIP)), close=False),
        [BODY, ("2", "file", PDF, frozenset()),
         ("3", "file", ZIP, frozenset()), ("3/1", "entry", PDF, frozenset()),
         ("3/2", "entry", BIN, frozenset())],
        ["part TEXT: multipart without its close delimiter"]),
    "attached message in base64": (
        mixed(rfc822(mixed(leaf(b64(BIG_ZIP)), mark=b"in"))),
        [BODY, ("2.1", "body", TXT, frozenset()), ("2.2", "file", ZIP, frozenset()),
         ("2.2/1", "entry", PDF, frozenset()), ("2.2/2", "entry", BIN, frozenset())], []),
    "attached message as sent": (
        mixed(rfc822(mixed(leaf(b64(BIG_PDF)), mark=b"in"), "8bit")),
        [BODY, ("2.1", "body", TXT, frozenset()), ("2.2", "file", PDF, frozenset())], []),
    "single part": (leaf(b64(BIG_ZIP)), [("1", "file", ZIP, frozenset()),
                                         ("1/1", "entry", PDF, frozenset()),
                                         ("1/2", "entry", BIN, frozenset())], []),
    "quoted-printable text": (mixed(leaf(b"Compte=20rendu=\r\n" * 10_000, "quoted-printable",
                                         "text/plain")),
                              [BODY, ("2", "file", TXT, frozenset())], []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_facts_of_large_and_damaged_leaves(name: str) -> None:
    raw, items, problems = CASES[name]
    facts = scan_content(raw)
    assert [(i.path, i.role, i.detected, i.findings) for i in facts.items] == items
    assert list(facts.problems) == problems


def _decoded_octets(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> int:
    decoded = 0
    real = binascii.a2b_base64

    def counting(data: bytes, *, strict_mode: bool = False) -> bytes:
        nonlocal decoded
        out = real(data, strict_mode=strict_mode)
        decoded += len(out)
        return out

    monkeypatch.setattr(binascii, "a2b_base64", counting)  # as `transfer_encoding` calls it
    scan_content(raw)
    return decoded


def test_a_large_pdf_is_decoded_only_up_to_its_head(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = mixed(leaf(damaged(PDF_TEXT, len(PDF_TEXT) - 50, b"!")))
    assert _decoded_octets(monkeypatch, raw) < 2 * HEAD < len(BIG_PDF)
    assert scan_content(raw).problems == ("part 2: " + INVALID,)  # the tail is still checked


@pytest.mark.parametrize("data", [BIG_ZIP, BIG_OLE])
def test_a_large_zip_or_ole_file_is_decoded_whole(monkeypatch: pytest.MonkeyPatch,
                                                  data: bytes) -> None:
    assert _decoded_octets(monkeypatch, mixed(leaf(b64(data)))) >= len(data)


def test_the_walk_copies_no_body_out_of_the_message() -> None:
    raw = mixed(leaf(PDF_TEXT), leaf(BIG_PDF, "binary"),
                leaf(b"Compte=20rendu\r\n", "quoted-printable", "text/plain"),
                rfc822(b"Subject: x\r\n\r\nCompte=20rendu\r\n", "quoted-printable"))
    root = parse_message(raw)
    scan_content(raw, None, root)
    assert all("body" not in part.__dict__ for part in root.children)


@pytest.mark.parametrize(("start", "stop"), [
    (0, 0), (3, COPY_WINDOW), (0, COPY_WINDOW + 1), (5, 3 * COPY_WINDOW + 7),
    (COPY_WINDOW, 4 * COPY_WINDOW), (9, 4 * COPY_WINDOW + 100)])
def test_octets_is_the_slice(start: int, stop: int) -> None:
    data = _random(4 * COPY_WINDOW + 100)
    assert octets(data, start, stop) == data[start:stop]


async def test_the_gateway_walks_the_tree_it_is_given_in_its_worker_thread() -> None:
    raw = mixed(leaf(PDF_TEXT), rfc822(mixed(leaf(b64(f.pdf())), mark=b"in"), "8bit"))
    root = parse_message(raw)
    facts = await ContentInspection().files(raw, root)  # larger than ON_LOOP_MAX: in a thread
    assert [item.detected for item in facts.items] == [TXT, PDF, TXT, PDF]
    assert "encapsulated" in root.children[2].__dict__  # the walk went through this tree
