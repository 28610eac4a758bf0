"""The message parser's content walk (`message.content_facts`, `file_type`, `archives`,
`office`): each type detected on real octets whatever the name, MIME paths, file names
kept only as digests and extensions, archive bounds, XDM packages, office documents.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from message import file_type, office
from message.archives import Budget, ScanBounds, read_zip
from message.content_facts import file_name, may_expand, part_names, scan_content
from message.facts import read_facts, read_parsed
from message.mime_tree import message_depth, parse_message
from tests import attachment_files as f

PE = "application/vnd.microsoft.portable-executable"


@pytest.mark.parametrize(("content", "detected"), [
    (f.pdf(), "application/pdf"),
    (f.pe(), PE),
    (f.elf(), "application/x-elf"),
    # a polyglot: a HEIF brand in the DOS header of a program still runs: fail closed
    (f.pe()[:4] + b"ftypheic" + f.pe()[12:], PE),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 64, "application/x-mach-binary"),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 64, "application/java-vm"),
    (b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + b"\x00" * 64,
     "application/x-ms-shortcut"),
    (f.SHELL_SCRIPT, "text/x-script"),
    (f.CDA, "application/xml"),
    (b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>", "application/xml"),
    (b"<!DOCTYPE html><html></html>", "text/html"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    (f.HL7_V2, "application/hl7-v2"),
    (b"H|^~\\&|||LABO|||||||P|H2.2|20240305\r", "text/x-hprim"),
    (f.TEXT, "text/plain"),
    ("Résultats : élevé\n".encode("latin-1"), "text/plain"),
    (b"{\\rtf1\\ansi x}", "application/rtf"),
    (f.PNG, "image/png"), (f.JPEG, "image/jpeg"), (f.GIF, "image/gif"), (f.TIFF, "image/tiff"),
    (f.HEIC, "image/heic"), (f.DICOM, "application/dicom"),
    (f.P7S, "application/pkcs7-signature"),
    (f.zip_of([("a.txt", b"x")]), "application/zip"),
    (f.word_97(), "application/x-ole-storage"),
    (bytes(range(256)) * 4, "application/octet-stream"),
])
def test_detect_decides_on_octets(content: bytes, detected: str) -> None:
    assert file_type.detect(content) == detected


def test_eicar_by_digest_with_trailing_white_space_only() -> None:
    assert file_type.is_eicar(f.EICAR) and file_type.is_eicar(f.EICAR + b"\r\n   ")
    assert not file_type.is_eicar(f.EICAR + b"x") and not file_type.is_eicar(f.EICAR[:-1])
    assert not file_type.is_eicar(b" " + f.EICAR)


@pytest.mark.parametrize(("content", "kind", "findings"), [
    (f.docx(), office.DOCX, set()),
    (f.docm(), office.DOCM, {"macro"}),
    (f.docx_with_macro(), office.DOCX, {"macro"}),
    (f.docx_with_macro(hidden=True), office.DOCX, {"macro"}),  # found by oletools alone
    (f.odt(), office.ODT, set()),
    (f.odt(macro=True), office.ODT, {"macro"}),
    (f.word_97(), office.DOC, set()),
    (f.word_97(macro=True), office.DOC, {"macro"}),
    (f.compound_file({"EncryptionInfo": b"\x04\x00", "EncryptedPackage": b"\x00" * 64}),
     "application/x-ole-storage", {"encrypted"}),
    (f.zip_of([("META-INF/MANIFEST.MF", b"Main-Class: A\n"), ("A.class", b"\xca\xfe")]),
     office.JAR, set()),
    (f.zip_of([("AndroidManifest.xml", b"x"), ("classes.dex", b"dex\n035")]), office.APK, set()),
    (f.zip_of([("scripts/run.sh", b"echo\n")]), "application/zip", set()),  # not a document
])
def test_office_documents_their_type_and_macros(content: bytes, kind: str,
                                                findings: set[str]) -> None:
    raw = f.wire(f.message("a@b", "c@d", [("x.bin", "application/octet-stream", content)]))
    item = scan_content(raw).items[1]
    assert (item.detected, set(item.findings)) == (kind, findings)


def test_paths_follow_imap_sections_and_containers() -> None:
    inner = f.message("a@b", "c@d", [("a.zip", "application/zip",
                                      f.zip_of([("x.txt", b"1"), ("y.pdf", f.pdf())]))])
    raw = f.wire(f.message("a@b", "c@d", [("cr.pdf", "application/pdf", f.pdf())], inner=inner))
    facts = scan_content(raw)
    assert [(i.path, i.role) for i in facts.items] == [
        ("1", "body"), ("2", "file"), ("3.1", "body"), ("3.2", "file"), ("3.2/1", "entry"),
        ("3.2/2", "entry")]
    assert facts.problems == () and facts.complete
    single = scan_content(b"Subject: x\r\n\r\nhello\r\n")
    assert [(i.path, i.role, i.declared) for i in single.items] == [("1", "body", None)]


def test_message_rfc822_sent_base64_is_opened() -> None:
    inner = f.wire(f.message("a@b", "c@d", [("x.exe", "application/octet-stream", f.pe())]))
    raw = (b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
           b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(inner).replace(b"\n", b"\r\n") + b"--z--\r\n")
    facts = scan_content(raw)
    assert any(i.path == "1.2" and i.detected == PE for i in facts.items), facts.items


def test_file_names_kept_as_digest_extensions_and_bidi() -> None:
    name = "compte-rendu.pdf      .EXE. "
    kept = file_name(name)
    assert kept.digest == hashlib.sha256(name.encode()).hexdigest()[:16]
    assert kept.extensions == ("pdf", "exe") and not kept.bidi
    assert file_name("rapport\u202efdp.exe").bidi
    assert file_name("dir/sub\\a.tar.gz.zip").extensions == ("tar", "gz", "zip")
    assert file_name("README").extensions == ()


def test_encoded_file_names_are_decoded_before_their_extensions_are_read() -> None:
    raw = (b"Content-Type: application/pdf; name=\"=?UTF-8?B?"
           + base64.b64encode("résumé.pdf.exe".encode()) + b"?=\"\r\n"
           b"Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.js\r\n\r\nx")
    disposition, names = part_names(parse_message(raw))
    assert disposition == "attachment" and names == ["résumé.js", "résumé.pdf.exe"]


def test_zip_bounds_from_the_central_directory_before_any_expansion() -> None:
    bounds = ScanBounds()
    assert read_zip(f.ratio_bomb(), bounds, Budget(10**9)).problem == "archive-ratio"
    assert read_zip(f.aes_zip([("a.txt", b"x")]), bounds, Budget(10**9)).problem == "encrypted"
    assert read_zip(b"PK\x03\x04garbage", bounds, Budget(10**9)).problem == "unreadable"
    budget = Budget(1000)
    assert read_zip(f.zip_of([("a", b"a" * 600)]), bounds, budget).problem is None
    assert budget.left == 400  # the budget is the message's: shared by its archives
    assert read_zip(f.zip_of([("b", b"b" * 600)]), bounds, budget).problem == "archive-size"


def test_a_lying_declared_size_expands_no_further() -> None:
    archive = bytearray(f.zip_of([("a.txt", b"a" * 5000)]))
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24:central + 28] = (10).to_bytes(4, "little")  # declared size: 10
    local = archive.find(b"PK\x03\x04")
    archive[local + 22:local + 26] = (10).to_bytes(4, "little")
    listing = read_zip(bytes(archive), ScanBounds(), Budget(100))
    assert listing.problem == "unreadable" or all(len(e.data) <= 10 for e in listing.entries)


@pytest.mark.parametrize(("documents", "index", "findings"), [
    (None, True, {"xdm"}),
    (None, False, {"xdm", "xdm-invalid"}),
    ([], True, {"xdm"}),
])
def test_xdm_structure(documents: list[tuple[str, bytes]] | None, index: bool,
                       findings: set[str]) -> None:
    raw = f.wire(f.message("a@b", "c@d", [("ihe_xdm.zip", "application/zip",
                                           f.xdm(documents, index=index))]))
    assert set(scan_content(raw).items[1].findings) == findings


def test_zip_holding_an_xdm_folder_is_checked_as_xdm_whatever_its_name() -> None:
    archive = f.zip_of([("IHE_XDM/SUBSET01/DOC1.XML", f.CDA)])
    raw = f.wire(f.message("a@b", "c@d", [("envoi.zip", "application/zip", archive)]))
    assert set(scan_content(raw).items[1].findings) == {"xdm", "xdm-invalid"}


def test_packaged_file_in_an_embedded_object_is_checked_with_its_name() -> None:
    document = f.docx(extra=[("word/embeddings/oleObject1.bin",
                              f.packaged_object("facture.pdf.exe", f.pe()))])
    raw = f.wire(f.message("a@b", "c@d", [("lettre.docx", office.DOCX, document)]))
    items = scan_content(raw).items
    assert [(i.path, i.role, i.detected) for i in items[1:]] == [
        ("2", "file", office.DOCX), ("2/4", "embedded", "application/x-ole-storage"),
        ("2/4/1", "packaged", PE)]
    assert items[3].names[0].extensions == ("pdf", "exe")


def test_archive_hint_sends_small_messages_off_the_loop() -> None:
    zipped = f.wire(f.message("a@b", "c@d", [("a.zip", "application/zip", f.ratio_bomb(10**6))]))
    assert len(zipped) < 128 * 1024 and may_expand(zipped)
    doc = f.wire(f.message("a@b", "c@d", [("a.doc", "application/msword", f.word_97())]))
    assert may_expand(doc)
    assert not may_expand(f.wire(f.message("a@b", "c@d", [("a.pdf", "application/pdf",
                                                            f.pdf())])))


@pytest.mark.parametrize("raw", [
    b"", b"\r\n", b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--a--\r\n",
    b"Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAAA\r\n",
    b"Content-Type: application/msword\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(f.word_97()[:700]),
])
def test_never_raises_on_broken_input(raw: bytes) -> None:
    facts = scan_content(raw)
    assert isinstance(facts.items, tuple)


def test_a_tree_read_for_the_facts_gives_the_same_walk() -> None:
    """The gateway parses a message once (`read_parsed`) and walks that tree: the walk of a
    tree already read for the facts equals the walk of a fresh parse."""
    inner = f.wire(f.message("a@b", "c@d", [("x.exe", "application/octet-stream", f.pe())]))
    attached = f.message("a@b", "c@d", [("a.zip", "application/zip",
                                         f.zip_of([("x.txt", b"1"), ("y.pdf", f.pdf())]))])
    for raw in (
        f.wire(f.message("a@b", "c@d", [("cr.pdf", "application/pdf", f.pdf())],
                         inner=attached)),
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(inner).replace(b"\n", b"\r\n") + b"--z--\r\n",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n",
    ):
        facts, root = read_parsed(raw)
        assert facts == read_facts(raw) and facts.nesting == message_depth(raw)
        assert scan_content(raw, None, root) == scan_content(raw)
        assert scan_content(raw, None, root) == scan_content(raw)  # walked twice: the same
