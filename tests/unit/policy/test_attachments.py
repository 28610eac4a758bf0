"""Rules attachments and antivirus (R26): each allowed and refused file type, made in the
test, through the message parser's walk (`message.content_facts`) and the pure rule.

Each row sends one real file as an attachment of a real MIME message; the verdict's
reply, and its audit reason (the part's path, the detected type, the name only as a
digest) are checked.
"""

from __future__ import annotations

import base64
import hashlib
from email import message_from_bytes
from email.policy import default

import pytest

from message import file_type, office
from message.archives import ScanBounds
from message.content_facts import scan_content
from policy import attachment_types, replies
from policy.antivirus import check as check_antivirus
from policy.attachments import check
from policy.content import AttachmentPolicy
from policy.context import Stage
from policy.engine import PolicyEngine
from policy.reply import Reply
from policy.rules import DEFAULT_RULES
from policy.verdict import Action
from tests import attachment_files as f
from tests.unit.policy.factories import DR_X, answer, data

PDF_T, ZIP_T = "application/pdf", "application/zip"
DOCX_T = office.DOCX
NOT_ALLOWED, REFUSED, MALWARE = (replies.ATTACHMENT_NOT_ALLOWED, replies.ATTACHMENT_REFUSED,
                                 replies.MALWARE_FOUND)


def sent(*attachments: tuple[str, str, bytes], inner: bytes | None = None) -> bytes:
    nested = None if inner is None else message_from_bytes(inner, policy=default)
    return f.wire(f.message(DR_X, "dr.y@op-b.mssante.fr", list(attachments),
                            inner=nested))  # type: ignore[arg-type]


def decide(raw: bytes, policy: AttachmentPolicy | None = None,
           bounds: ScanBounds | None = None):  # noqa: ANN201
    ctx = data(content=scan_content(raw, bounds),
               attachment_policy=policy or AttachmentPolicy())
    return check(ctx)


ALLOWED = [
    ("compte-rendu.pdf", PDF_T, f.pdf()),
    ("cda.xml", "text/xml", f.CDA),
    ("resultats.hl7", "text/plain", f.HL7_V2),
    ("note.txt", "text/plain", f.TEXT),
    ("lettre.rtf", "application/rtf", b"{\\rtf1\\ansi Compte rendu}"),
    ("lettre.docx", DOCX_T, f.docx()),
    ("lettre.odt", office.ODT, f.odt()),
    ("photo.jpg", "image/jpeg", f.JPEG),
    ("scan.png", "image/png", f.PNG),
    ("schema.gif", "image/gif", f.GIF),
    ("scan.tif", "image/tiff", f.TIFF),
    ("photo.heic", "image/heic", f.HEIC),
    ("irm.dcm", "application/dicom", f.DICOM),
    ("smime.p7s", "application/pkcs7-signature", f.P7S),
    ("documents.zip", ZIP_T, f.zip_of([("a.pdf", f.pdf()), ("b.txt", f.TEXT)])),
    ("IHE_XDM.ZIP", ZIP_T, f.xdm()),
    ("scan.bin", "application/octet-stream", f.PNG),  # undeclared type: decided on content
    ("export.csv", "application/vnd.ms-excel", b"nom;date\r\nX;2024-03-05\r\n"),  # as Outlook
    ("lettre.doc", "application/msword", b"{\\rtf1\\ansi Lettre}"),  # RTF saved as .doc
]


@pytest.mark.parametrize(("name", "kind", "content"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_types_pass(name: str, kind: str, content: bytes) -> None:
    assert decide(sent((name, kind, content))) is None


REFUSED_CASES = [
    # (file name, declared type, octets, reply, reason fragment, detected type)
    ("rapport.pdf", PDF_T, f.pe(), REFUSED, "executable",
     "application/vnd.microsoft.portable-executable"),
    ("rapport.bin", "application/octet-stream", f.elf(), REFUSED, "executable",
     "application/x-elf"),
    ("compte-rendu.pdf", PDF_T, f.SHELL_SCRIPT, REFUSED, "script", "text/x-script"),
    ("compte-rendu.pdf.exe", PDF_T, f.pdf(), REFUSED, "double extension", PDF_T),
    ("outil.js", "text/plain", b"var a = 1;\n", REFUSED, "executable file name", "text/plain"),
    ("rapport\u202efdp.exe", PDF_T, f.pdf(), REFUSED, "bidirectional", PDF_T),
    ("lettre.docm", DOCX_T, f.docm(), REFUSED, "macro-enabled document", office.DOCM),
    ("lettre.docx", DOCX_T, f.docx_with_macro(), REFUSED, "macro", DOCX_T),
    ("lettre.docx", DOCX_T, f.docx_with_macro(hidden=True), REFUSED, "macro", DOCX_T),
    ("lettre.doc", "application/msword", f.word_97(macro=True), REFUSED, "macro", office.DOC),
    ("lettre.odt", office.ODT, f.odt(macro=True), REFUSED, "macro", office.ODT),
    ("secret.zip", ZIP_T, f.aes_zip([("cr.pdf", f.pdf())]), REFUSED, "encrypted", ZIP_T),
    ("bombe.zip", ZIP_T, f.ratio_bomb(), REFUSED, "expansion ratio", ZIP_T),
    ("poupees.zip", ZIP_T, f.nested_zip(4), REFUSED, "depth", ZIP_T),
    ("eicar.com.txt", "text/plain", f.EICAR, MALWARE, "EICAR", "text/plain"),
    ("archive.zip", ZIP_T, f.zip_of([("eicar.txt", f.EICAR)]), MALWARE, "EICAR", "text/plain"),
    ("archive.zip", ZIP_T, f.zip_of([("ok.pdf", f.pdf()), ("setup.pdf", f.pe())]), REFUSED,
     "executable", "application/vnd.microsoft.portable-executable"),
    ("IHE_XDM.ZIP", ZIP_T, f.xdm(index=False), REFUSED, "XDM structure", ZIP_T),
    ("IHE_XDM.ZIP", ZIP_T, f.xdm([("DOC0001.PDF", f.pe())]), REFUSED, "executable",
     "application/vnd.microsoft.portable-executable"),
    ("photo.jpg", "image/jpeg", f.PNG, REFUSED, "declared image/jpeg contradicts", "image/png"),
    ("photo.pdf", "application/octet-stream", f.PNG, REFUSED, "extension .pdf contradicts",
     "image/png"),
    ("lettre.docx", DOCX_T,
     f.docx(extra=[("word/embeddings/oleObject1.bin",
                    f.packaged_object("facture.exe", f.pe()))]),
     REFUSED, "executable", "application/vnd.microsoft.portable-executable"),
    ("page.html", "text/html", b"<html><body>x</body></html>", NOT_ALLOWED, "allow-list",
     "text/html"),
    ("archive.gz", "application/gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 32, NOT_ALLOWED,
     "allow-list", "application/x-gzip"),
    ("lettre.doc", "application/msword", f.word_97(), NOT_ALLOWED, "allow-list", office.DOC),
    ("setup.dat", "application/octet-stream",  # MSI: root CLSID {000C1084-...-000000000046}
     f.compound_file({"x": b"1"}, clsid=bytes.fromhex("84100c0000000000c000000000000046")),
     REFUSED, "executable", "application/x-msi"),
]


@pytest.mark.parametrize(("name", "kind", "content", "reply", "why", "detected"),
                         REFUSED_CASES, ids=[f"{c[0]}-{c[4]}" for c in REFUSED_CASES])
def test_refused_types_554_571(name: str, kind: str, content: bytes, reply: Reply, why: str,
                               detected: str) -> None:
    verdict = decide(sent((name, kind, content)))
    assert verdict is not None and verdict.reply is reply, verdict
    assert (reply.code, reply.enhanced) == (554, "5.7.1")
    assert why in verdict.reason and f"(detected {detected}" in verdict.reason, verdict.reason
    assert verdict.reason.startswith("part 2"), verdict.reason  # part 1 is the text body


def test_reason_names_the_file_only_by_its_digest() -> None:
    name = "CR_Dupont_Jean.pdf.exe"
    verdict = decide(sent((name, PDF_T, f.pdf())))
    assert verdict is not None
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    assert verdict.reason == (f"part 2: double extension (detected {PDF_T}, "
                              f"name sha256:{digest})")
    assert "Dupont" not in verdict.reason


def test_nested_message_carrying_a_refused_part() -> None:
    inner = sent(("outil.exe", "application/octet-stream", f.pe()))
    verdict = decide(sent(("cr.pdf", PDF_T, f.pdf()), inner=inner))
    assert verdict is not None and verdict.reply is REFUSED
    assert verdict.reason.startswith("part 3.2: executable"), verdict.reason
    assert decide(sent(("cr.pdf", PDF_T, f.pdf()), inner=sent(("a.pdf", PDF_T, f.pdf())))) is None


def test_xdm_entries_and_index() -> None:
    facts = scan_content(sent(("IHE_XDM.ZIP", ZIP_T, f.xdm())))
    roles = {item.path: (item.role, item.detected) for item in facts.items}
    assert roles["2"] == ("file", ZIP_T)
    assert ("xdm-index", "text/html") in roles.values()
    assert ("entry", "application/xml") in roles.values() and ("entry", PDF_T) in roles.values()
    assert {"xdm"} == next(i.findings for i in facts.items if i.path == "2")


def test_script_text_in_the_body_is_text_but_a_program_is_not() -> None:
    script_body = f.wire(f.message(DR_X, "b@op-b.mssante.fr", [], body="#!/bin/sh\necho\n"))
    assert decide(script_body) is None
    damaged = b"From: a@b\r\nContent-Type: text/plain\r\n\r\ntexte\x00brut\x01\r\n"
    assert decide(damaged) is None  # shown as text by the reader, never run
    as_file = (b"From: a@b\r\nContent-Type: text/plain; name=a.txt\r\n\r\n"
               b"texte\x00brut\x01\r\n")
    refused = decide(as_file)  # a named file of unknown octets is not on the allow-list
    assert refused is not None and "application/octet-stream" in refused.reason
    pe_body = (b"From: a@b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"
               b"\r\n" + base64.encodebytes(f.pe()).replace(b"\n", b"\r\n"))
    verdict = decide(pe_body)
    assert verdict is not None and "part 1: executable" in verdict.reason


@pytest.mark.parametrize(("raw", "problem"), [
    (b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhello\r\n--x--\r\n", "without boundary"),
    (b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhello\r\n",
     "close delimiter"),
    (b"Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts at all\r\n",
     "without body parts"),
    (b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBE*Ri0x\r\n",
     "invalid base64"),
    (b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0\r\n",
     "truncated base64"),
    (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n",
     "unknown transfer encoding"),
])
def test_malformed_mime_554_560_or_accepted_per_policy(raw: bytes, problem: str) -> None:
    verdict = decide(b"From: a@b\r\n" + raw)
    assert verdict is not None and verdict.reply is replies.MALFORMED_MIME
    assert (verdict.reply.code, verdict.reply.enhanced) == (554, "5.6.0")
    assert problem in verdict.reason, verdict.reason
    assert decide(b"From: a@b\r\n" + raw, AttachmentPolicy(refuse_malformed=False)) is None


def test_unclosed_multipart_still_checks_its_last_part() -> None:
    raw = (b"From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
           b"Content-Type: text/plain\r\n\r\nhello\r\n--x\r\n"
           b"Content-Type: application/octet-stream; name=a.bin\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(f.elf()))
    verdict = decide(raw, AttachmentPolicy(refuse_malformed=False))
    assert verdict is not None and verdict.reason.startswith("part 2: executable"), verdict


def test_allow_list_is_configurable_per_detected_type() -> None:
    gif = sent(("schema.gif", "image/gif", f.GIF))
    no_gif = AttachmentPolicy(allowed=frozenset(attachment_types.DEFAULT_ALLOWED) - {"image/gif"})
    verdict = decide(gif, no_gif)
    assert verdict is not None and verdict.reply is NOT_ALLOWED
    doc = sent(("lettre.doc", "application/msword", f.word_97()))
    with_doc = AttachmentPolicy(allowed=frozenset(attachment_types.DEFAULT_ALLOWED)
                                | {"application/msword"})
    assert decide(doc, with_doc) is None
    exe = sent(("a.pdf", PDF_T, f.pe()))
    everything = AttachmentPolicy(allowed=attachment_types.EXECUTABLE_TYPES)
    assert decide(exe, everything) is not None  # programs are refused whatever the list says


@pytest.mark.parametrize(("bounds", "archive", "why"), [
    (ScanBounds(max_archive_entries=3), f.zip_of([(f"{n}.txt", b"x") for n in range(4)]),
     "entry bound"),
    (ScanBounds(max_archive_size=1_000_000), f.zip_of([("a.txt", b"a" * 600_000),
                                                       ("b.txt", b"b" * 600_000)]),
     "expanded size bound"),
    (ScanBounds(max_archive_depth=1), f.nested_zip(2), "depth bound"),
])
def test_archive_bounds(bounds: ScanBounds, archive: bytes, why: str) -> None:
    raw = sent(("a.zip", ZIP_T, archive))
    verdict = decide(raw, bounds=bounds)
    assert verdict is not None and why in verdict.reason, verdict
    assert decide(raw) is None  # within the default bounds


def test_more_files_than_the_walk_looks_at() -> None:
    raw = sent(*[(f"{n}.txt", "text/plain", f.TEXT) for n in range(12)])
    verdict = decide(raw, bounds=ScanBounds(max_parts=10))
    assert verdict is not None and verdict.reply is replies.TOO_MANY_PARTS
    assert decide(raw) is None


def test_modes_warn_and_off_and_no_content() -> None:
    ctx = data(content=scan_content(sent(("a.pdf", PDF_T, f.pe()))))
    enforced = PolicyEngine(DEFAULT_RULES).evaluate(Stage.DATA, ctx)
    assert answer(enforced) is REFUSED
    warned = PolicyEngine(DEFAULT_RULES, {"attachments": "warn"}).evaluate(Stage.DATA, ctx)
    assert warned.verdict is None and [w.rule for w in warned.warnings] == ["attachments"]
    off = PolicyEngine(DEFAULT_RULES, {"attachments": "off"}).evaluate(Stage.DATA, ctx)
    assert off.verdict is None and not off.warnings
    soft = PolicyEngine(DEFAULT_RULES, soft_bounce=True).evaluate(Stage.DATA, ctx)
    assert answer(soft) == REFUSED.soft()
    assert check(data()) is None  # no content facts: the rule has nothing to say


class Scan:
    def __init__(self, status: str, detail: str = "") -> None:
        self.status, self.detail = status, detail


@pytest.mark.parametrize(("status", "action", "reply"), [
    ("clean", None, None),
    ("infected", Action.REJECT, replies.MALWARE_FOUND),
    ("unavailable", Action.TEMPFAIL, replies.ANTIVIRUS_UNAVAILABLE),
])
def test_antivirus_rule(status: str, action: Action | None, reply: Reply | None) -> None:
    verdict = check_antivirus(data(antivirus=Scan(status, "Eicar-Signature")))
    assert (verdict.action if verdict else None) is action
    assert (verdict.reply if verdict else None) is reply
    assert check_antivirus(data()) is None
    if reply is not None:
        assert (reply.code, reply.enhanced) in ((554, "5.7.1"), (451, "4.3.0"))


def test_policy_type_names_are_types_the_parser_detects() -> None:
    detected = file_type.KINDS | office.KINDS
    named = (attachment_types.EXECUTABLE_TYPES | attachment_types.MACRO_TYPES
             | attachment_types.BODY_TYPES | attachment_types.EMBEDDED_TYPES
             | set(attachment_types.DEFAULT_ALLOWED))
    assert named <= detected, named - detected
