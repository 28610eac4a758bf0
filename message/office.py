"""Office documents: their precise type, their macros, their encryption, their embedded files.

Owns: `zip_kind(names, read)` (OOXML, OpenDocument, Java and Android packages
told apart by their entries), `is_office_zip`, `wanted_entries`,
`ooxml_has_macros(data)`, `OleFacts` and `ole_facts(data)`.

What is decided here, with kept libraries (oletools, olefile):
- the OOXML type is that of the main part in `[Content_Types].xml`
  (ECMA-376 Part 2, 10.1.2); a `macroEnabled` main part is a macro-enabled
  type (`.docm`, `.xlsm`, `.pptm`); any `vbaProject.bin`, an Excel 4.0 macro
  sheet, or a VBA project that oletools finds in any OLE entry is a macro;
- the OpenDocument type is the `mimetype` entry (ODF 1.2 Part 3, 3.3); Basic
  or script libraries (`Basic/`, `Scripts/`) are macros;
- an OLE2 file is Word, Excel, PowerPoint or an installer (MSI, MSP, MST) by
  its streams and root CLSID; oletools says whether it holds VBA or Excel 4.0
  macros and whether any of it is encrypted (an encrypted OOXML file is an
  OLE2 file holding an `EncryptedPackage` stream);
- a file packaged in an OLE object (`\\x01Ole10Native`, MS-OLEDS 2.3.6) is
  extracted (oletools' `OleNativeStream`) so that it is checked like any
  attachment: this is how executables hide in documents.

Invariants: never raises on any input (a library failure reads as
`unreadable`); reads only the octets given; logs nothing (oletools and
olefile log nowhere unless enabled).

Ref: R26; ECMA-376 Part 2 10.1.2; ODF 1.2 Part 3 3.3; MS-CFB 2.6.2 (root CLSID);
MS-OLEDS 2.3.6; MS-OFFCRYPTO 2.3.4.4 (EncryptedPackage).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import olefile

with warnings.catch_warnings():  # oletools still calls pyparsing 2 names pyparsing 3 deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools import crypto, oleobj
    from oletools.olevba import VBA_Parser

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOCM = "application/vnd.ms-word.document.macroEnabled.12"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
MSI = "application/x-msi"
JAR = "application/java-archive"
APK = "application/vnd.android.package-archive"
OLE = "application/x-ole-storage"

KINDS: frozenset[str] = frozenset({DOCX, XLSX, PPTX, DOCM, XLSM, PPTM, ODT, ODS, DOC, XLS, PPT,
                                   MSI, JAR, APK, OLE})
"""The types named here (an OpenDocument `mimetype` may name others of its family)."""

CONTENT_TYPES = "[Content_Types].xml"
MIMETYPE = "mimetype"
_MAIN_PART = re.compile(rb'ContentType="([^"]{1,200}\.main(?:\+xml)?)"', re.I)
_FAMILY = (("wordprocessingml", DOCX, DOCM), ("ms-word", DOCX, DOCM),
           ("spreadsheetml", XLSX, XLSM), ("ms-excel", XLSX, XLSM),
           ("presentationml", PPTX, PPTM), ("ms-powerpoint", PPTX, PPTM))
_INSTALLER_CLSIDS = frozenset({  # MSI database, patch, transform (root storage CLSID)
    "000C1084-0000-0000-C000-000000000046", "000C1086-0000-0000-C000-000000000046",
    "000C1082-0000-0000-C000-000000000046"})
_OLE_STREAMS = (("worddocument", DOC), ("workbook", XLS), ("book", XLS),
                ("powerpoint document", PPT))
_NATIVE = "\x01ole10native"


def is_office_zip(names: tuple[str, ...]) -> bool:
    """An OOXML or OpenDocument package (by its entries)."""
    return CONTENT_TYPES in names or MIMETYPE in names


def is_embedding(name: str) -> bool:
    """An object embedded in an OOXML document (`word/embeddings/...`)."""
    return "/embeddings/" in name.lower()


def wanted_entries(names: tuple[str, ...]) -> Callable[[str], bool]:
    """The entries to expand: all of a plain archive; the type and embeddings of a document."""
    if not is_office_zip(names):
        return lambda name: True
    return lambda name: name in (CONTENT_TYPES, MIMETYPE) or is_embedding(name)


def _ooxml_kind(content_types: bytes) -> tuple[str, bool] | None:
    """(type, macro-enabled) of the main part named in `[Content_Types].xml`."""
    for match in _MAIN_PART.finditer(content_types):
        main = match.group(1).decode("ascii", "replace").lower()
        for marker, plain, macro in _FAMILY:
            if marker in main:
                enabled = "macroenabled" in main
                return (macro if enabled else plain), enabled
    return None


def _macro_names(names: tuple[str, ...]) -> bool:
    lowered = [name.lower() for name in names]
    return any(name.endswith("vbaproject.bin") or name.startswith("xl/macrosheets/")
               or name.startswith(("basic/", "scripts/")) for name in lowered)


def _package_kind(names: tuple[str, ...]) -> str | None:
    if "AndroidManifest.xml" in names and "classes.dex" in names:
        return APK
    if "META-INF/MANIFEST.MF" in names and any(n.endswith(".class") for n in names):
        return JAR
    return None


def zip_kind(names: tuple[str, ...], read: Callable[[str], bytes | None]
             ) -> tuple[str | None, bool]:
    """(the refined type or None for a plain ZIP, whether a document's entry names show macros)."""
    macro = is_office_zip(names) and _macro_names(names)
    if CONTENT_TYPES in names:
        found = _ooxml_kind(read(CONTENT_TYPES) or b"")
        if found is not None:
            return found[0], macro or found[1]
    if MIMETYPE in names:
        value = (read(MIMETYPE) or b"")[:100].decode("ascii", "replace").strip()
        if value.startswith("application/vnd.oasis.opendocument."):
            return value, macro
    return _package_kind(names), macro


def ooxml_has_macros(data: bytes) -> bool | None:
    """Whether oletools finds VBA or Excel 4.0 macros in the package (None: unreadable)."""
    try:
        return _macros(data)
    except Exception:  # oletools raises many types on hostile input: unreadable
        return None


@dataclass(frozen=True)
class OleFacts:
    """What an OLE2 file is and holds."""

    kind: str = OLE
    findings: frozenset[str] = frozenset()
    """`macro`, `encrypted`, `unreadable`."""
    packaged: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    """(file name, octets) of each file packaged in an OLE object."""


def _ole_kind(ole: olefile.OleFileIO, streams: set[str]) -> str:
    root = ole.root
    if root is not None and (root.clsid or "").upper() in _INSTALLER_CLSIDS:
        return MSI
    return next((kind for name, kind in _OLE_STREAMS if name in streams), OLE)


def _packaged(ole: olefile.OleFileIO) -> tuple[tuple[str, bytes], ...]:
    found: list[tuple[str, bytes]] = []
    for path in ole.listdir(streams=True, storages=False):
        if path[-1].lower() == _NATIVE:
            native = oleobj.OleNativeStream(bindata=ole.openstream(path).read())
            found.append((str(native.filename or ""), bytes(native.data or b"")))
    return tuple(found)


def _macros(data: bytes) -> bool:
    parser = VBA_Parser("attachment", data=data)
    try:
        return bool(parser.detect_vba_macros())
    finally:
        parser.close()


def _read_ole(data: bytes) -> OleFacts:
    with olefile.OleFileIO(data) as ole:
        streams = {"/".join(p).lower() for p in ole.listdir(streams=True, storages=True)}
        kind = _ole_kind(ole, streams)
        encrypted = "encryptedpackage" in streams or bool(crypto.is_encrypted(ole))
        packaged = _packaged(ole)
    findings = {"encrypted"} if encrypted else set()
    if not encrypted and kind != MSI and _macros(data):
        findings.add("macro")
    return OleFacts(kind, frozenset(findings), packaged)


def ole_facts(data: bytes) -> OleFacts:
    """The facts of an OLE2 (compound file) document."""
    try:
        return _read_ole(data)
    except Exception:  # olefile and oletools raise many types on hostile input
        return OleFacts(OLE, frozenset({"unreadable"}))
