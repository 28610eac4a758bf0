"""The type of a file, decided on its octets (magic bytes), never on its name or declared type.

Owns: `detect(data)`, the canonical MIME type of a file's content, the constants
naming each type it returns (`KINDS`), `is_eicar(data)` and `looks_like_zip`.

How a type is decided:
- the magic bytes are matched by puremagic (a kept library; its table
  indexed by `signatures.magic_matches`, same answers) on the first
  `HEAD` octets, and its matches are mapped onto the canonical names below (an
  executable match wins over any other: fail closed);
- ZIP and OLE2 containers are returned as `ZIP` and `OLE`; `message.archives`
  and `message.office` refine them (OOXML, ODF, JAR, APK; Word, Excel, MSI)
  from their entries and streams;
- content with no binary signature is text when at most 1 % of its octets are
  control characters (UTF-8 or ISO-8859: HPRIM files are often Latin-1); text is then
  told apart by its first octets: a `#!` script, XML (a CDA), HTML, SVG, RTF,
  HL7 v2 (`MSH|`), HPRIM (`H|^~\\&`), else plain text;
- anything else is `application/octet-stream` (or puremagic's own MIME type
  for a format with no canonical name here, such as gzip or 7-Zip).

EICAR is recognised by the SHA-256 of its 68 octets, so the repository never
holds the test string itself; the EICAR convention allows trailing white space
up to 128 octets.

Invariants: pure functions of the octets; nothing here raises on any input;
at most `HEAD` octets are given to the signature matcher.

Ref: R26 (suspicious messages); RFC 2046 4.5.1 (application/octet-stream);
RFC 7303 (XML media types).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import puremagic

from .signatures import magic_matches

HEAD = 64 * 1024

PDF = "application/pdf"
XML = "application/xml"
HL7 = "application/hl7-v2"
HPRIM = "text/x-hprim"
TEXT = "text/plain"
HTML = "text/html"
SVG = "image/svg+xml"
SCRIPT = "text/x-script"
RTF = "application/rtf"
JPEG, PNG, GIF, TIFF, HEIC = "image/jpeg", "image/png", "image/gif", "image/tiff", "image/heic"
DICOM = "application/dicom"
P7S = "application/pkcs7-signature"
P7M = "application/pkcs7-mime"
ZIP = "application/zip"
OLE = "application/x-ole-storage"
PE = "application/vnd.microsoft.portable-executable"
ELF = "application/x-elf"
MACHO = "application/x-mach-binary"
JAVA_CLASS = "application/java-vm"
LNK = "application/x-ms-shortcut"
UNKNOWN = "application/octet-stream"

KINDS: frozenset[str] = frozenset({
    PDF, XML, HL7, HPRIM, TEXT, HTML, SVG, SCRIPT, RTF, JPEG, PNG, GIF, TIFF, HEIC, DICOM,
    P7S, P7M, ZIP, OLE, PE, ELF, MACHO, JAVA_CLASS, LNK, UNKNOWN})
"""The canonical types `detect` returns (besides puremagic's own MIME types)."""

_EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# puremagic's MIME types and extensions mapped onto the canonical names.
_BY_MIME = {
    "application/pdf": PDF, "image/png": PNG, "image/jpeg": JPEG, "image/gif": GIF,
    "image/tiff": TIFF, "image/heif": HEIC, "image/heic": HEIC, "application/dicom": DICOM,
    "application/rtf": RTF, "application/xml": XML, "text/xml": XML,
    "application/vnd.microsoft.portable-executable": PE, "application/java": JAVA_CLASS,
    "application/x-executable": ELF, "application/x-mach-binary": MACHO,
}
_PE_EXTENSIONS = frozenset({".exe", ".dll", ".com", ".sys", ".scr", ".pif", ".cpl", ".ocx",
                            ".drv", ".vxd", ".386"})
_BY_EXTENSION = {".lnk": LNK, ".class": JAVA_CLASS, ".appimage": ELF, ".dcm": DICOM}
_EXECUTABLES = frozenset({PE, ELF, MACHO, JAVA_CLASS, LNK})
# ASN.1 DER: SEQUENCE, then the PKCS7 content type OID (RFC 5652 3): signedData, envelopedData.
_PKCS7_SIGNED = bytes.fromhex("06092a864886f70d010702")
_PKCS7_ENVELOPED = bytes.fromhex("06092a864886f70d010703")
_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1A, 0x1B} | {0x7F}
_CONTROL_OCTETS = bytes(sorted(_CONTROL))  # deleted by bytes.translate to count them


def is_eicar(data: bytes) -> bool:
    """The EICAR anti-virus test file (68 octets, optional trailing white space up to 128)."""
    if not 68 <= len(data) <= 128 or data[68:].strip() != b"":
        return False
    return hashlib.sha256(data[:68]).hexdigest() == _EICAR_SHA256


def looks_like_zip(data: bytes) -> bool:
    """A ZIP local header or an empty archive's end record at offset 0 (APPNOTE 4.3.7, 4.3.16)."""
    return data.startswith(_ZIP_MAGIC)


def _name_kind(name: str) -> str | None:
    if name.startswith("ELF"):
        return ELF
    if "Mach-O" in name:
        return MACHO
    return None


def _match_kind(mime: str, extension: str, name: str) -> str | None:
    ext = extension.lower()
    if mime in _BY_MIME:
        return _BY_MIME[mime]
    if ext in _PE_EXTENSIONS:
        return PE
    return _BY_EXTENSION.get(ext) or _name_kind(name)


def _signature_kinds(head: bytes) -> tuple[list[str], list[str]]:
    """(canonical kinds, other MIME types) of puremagic's matches, best first."""
    try:
        matches = magic_matches(head)
    except (puremagic.PureError, ValueError, IndexError):
        return [], []
    kinds: list[str] = []
    others: list[str] = []
    for match in matches:
        kind = _match_kind(match.mime_type, match.extension, match.name)
        if kind is not None:
            kinds.append(kind)
        elif match.mime_type:
            others.append(match.mime_type)
    return kinds, others


def _pkcs7(head: bytes) -> str | None:
    if not head.startswith(b"\x30"):
        return None
    start = head[:32]
    if _PKCS7_SIGNED in start:
        return P7S
    return P7M if _PKCS7_ENVELOPED in start else None


def _is_text(head: bytes) -> bool:
    """UTF-16 with its byte order mark, or at most 1 % control octets (a stray NUL in a
    damaged text stays text; binary formats have far more)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte order mark
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_OCTETS))
    return controls * 100 <= len(head)


def _markup_kind(lead: bytes) -> str:
    lower = lead[:2048].lower()
    if lower.startswith((b"<!doctype html", b"<html")) or b"<html" in lower[:512]:
        return HTML
    return SVG if b"<svg" in lower else XML


def _text_kind(head: bytes) -> str:
    lead = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if lead.startswith(b"#!"):
        return SCRIPT
    if lead.startswith(b"{\\rtf"):
        return RTF
    if lead.startswith((b"MSH|", b"FHS|", b"BHS|")):  # HL7 v2.x 2.5: a message or batch header
        return HL7
    if lead.startswith(b"H|^~\\&"):  # HPRIM Sante: the header record and its separators
        return HPRIM
    if lead.startswith(b"<"):
        return _markup_kind(lead)
    return TEXT


def _first_executable(kinds: Iterable[str]) -> str | None:
    return next((kind for kind in kinds if kind in _EXECUTABLES), None)


def detect(data: bytes) -> str:
    """The canonical type of `data` (see the module docstring)."""
    head = data[:HEAD]
    if looks_like_zip(head):
        return ZIP
    if head.startswith(OLE_MAGIC):
        return OLE
    pkcs7 = _pkcs7(head)
    if pkcs7 is not None:
        return pkcs7
    kinds, others = _signature_kinds(head)
    executable = _first_executable(kinds)
    if executable is not None:
        return executable
    if kinds and kinds[0] != XML:  # puremagic's XML is refined below (HTML, SVG)
        return kinds[0]
    if _is_text(head):
        return _text_kind(head)
    return others[0] if others else UNKNOWN
