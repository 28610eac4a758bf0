"""The file types the attachment rule knows: allowed by default, always refused, and their families.

Owns: `DEFAULT_ALLOWED` (the default allow-list of `[attachments] allow`),
`EXECUTABLE_TYPES`, `SCRIPT_TYPES`, `MACRO_TYPES`, `BODY_TYPES`,
`EMBEDDED_TYPES`, `EXECUTABLE_EXTENSIONS`, and `contradicts(declared,
detected)` / `extension_contradicts(extension, detected)`.

The names are the canonical MIME types the message parser detects on a
file's octets (`message.file_type`, `message.office`); the tests check that
every type named here is one it can return.

Families: a declared Content-Type or a file extension contradicts the content
when both name a family and the detected type is not of it (a `.pdf` that is
a PNG, an `image/jpeg` that is a ZIP). Declarations outside the table
(`application/octet-stream`, unknown types and extensions) contradict nothing;
text types form one family (a CDA sent as `text/plain` is fine), OOXML and
OpenDocument documents another, and such a document is also a ZIP. The legacy
Office types and extensions (`application/msword`, `application/vnd.ms-excel`,
`.doc`, `.xls`) contradict nothing: mail clients give them to RTF and CSV files.

Ref: R20 (IHE_XDM.ZIP, CDA), R26.
"""

from __future__ import annotations

PDF = "application/pdf"
XML = "application/xml"
HL7 = "application/hl7-v2"
HPRIM = "text/x-hprim"
TEXT = "text/plain"
HTML = "text/html"
SCRIPT = "text/x-script"
RTF = "application/rtf"
SVG = "image/svg+xml"
JPEG, PNG, GIF, TIFF, HEIC = "image/jpeg", "image/png", "image/gif", "image/tiff", "image/heic"
DICOM = "application/dicom"
P7S = "application/pkcs7-signature"
ZIP = "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOCM = "application/vnd.ms-word.document.macroEnabled.12"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
DOC, XLS, PPT = "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"
OLE = "application/x-ole-storage"

DEFAULT_ALLOWED: tuple[str, ...] = (
    PDF, XML, HL7, HPRIM, TEXT, RTF, DOCX, XLSX, ODT, ODS, JPEG, PNG, GIF, TIFF, HEIC, DICOM,
    P7S, ZIP)
"""PDF, CDA and other XML, HL7 v2, HPRIM, text, RTF, office documents without macros,
images, DICOM, S/MIME signatures and ZIP archives (their entries checked)."""

EXECUTABLE_TYPES: frozenset[str] = frozenset({
    "application/vnd.microsoft.portable-executable", "application/x-elf",
    "application/x-mach-binary", "application/java-vm", "application/x-ms-shortcut",
    "application/x-msi", "application/java-archive", "application/vnd.android.package-archive"})
"""Programs of every common platform: refused whatever the allow-list says."""

SCRIPT_TYPES: frozenset[str] = frozenset({SCRIPT})
"""Scripts (a `#!` line): refused as files; the text of a message body may start with one."""

MACRO_TYPES: frozenset[str] = frozenset({DOCM, XLSM, PPTM})

BODY_TYPES: frozenset[str] = frozenset({TEXT, HTML, XML, HL7, HPRIM, SCRIPT,
                                       "application/octet-stream"})
"""What the text of the message itself may be (a text part without file name): text, or
octets no signature names (a damaged text full of control characters is shown, not run)."""

EMBEDDED_TYPES: frozenset[str] = frozenset({OLE, DOC, XLS, PPT})
"""OLE objects embedded in an office document (the files they package are checked)."""

EXECUTABLE_EXTENSIONS: frozenset[str] = frozenset({
    # Windows programs, libraries, installers, shortcuts and script hosts
    "exe", "com", "scr", "pif", "cpl", "dll", "sys", "drv", "ocx", "msi", "msp", "mst", "msc",
    "bat", "cmd", "ps1", "psm1", "psd1", "vbs", "vbe", "js", "jse", "wsf", "wsh", "wsc", "hta",
    "lnk", "url", "scf", "reg", "inf", "chm", "gadget", "application", "appx", "msix", "xll",
    "settingcontent-ms", "library-ms",
    # disk images that mount with their programs
    "iso", "img", "vhd", "vhdx",
    # Java, Android, macOS, Linux and script interpreters
    "jar", "class", "apk", "app", "dmg", "pkg", "deb", "rpm", "run", "elf",
    "sh", "bash", "zsh", "csh", "ksh", "py", "pyc", "pyw", "pl", "rb", "php", "command"})
"""File names that make a program whatever the content: refused (R26)."""

_FAMILY_OF_TYPE: dict[str, frozenset[str]] = {
    PDF: frozenset({"pdf"}),
    **{t: frozenset({"text"}) for t in (TEXT, XML, HL7, HPRIM, HTML, SCRIPT, RTF, SVG)},
    **{t: frozenset({"image/" + t.split("/")[1]}) for t in (JPEG, PNG, GIF, TIFF, HEIC)},
    DICOM: frozenset({"dicom"}),
    P7S: frozenset({"p7s"}),
    ZIP: frozenset({"zip"}),
    **{t: frozenset({"office", "zip"}) for t in (DOCX, XLSX, PPTX, DOCM, XLSM, PPTM, ODT, ODS)},
    **{t: frozenset({"office"}) for t in (DOC, XLS, PPT)},
}
_FAMILY_OF_DECLARED: dict[str, str] = {
    PDF: "pdf", "application/x-pdf": "pdf",
    XML: "text", "application/rtf": "text", HL7: "text",
    JPEG: "image/jpeg", "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg",
    PNG: "image/png", GIF: "image/gif", TIFF: "image/tiff", HEIC: "image/heic",
    "image/heif": "image/heic", DICOM: "dicom", P7S: "p7s", "application/x-pkcs7-signature": "p7s",
    ZIP: "zip", "application/x-zip-compressed": "zip", "application/x-zip": "zip",
    **{t: "office" for t in (DOCX, XLSX, PPTX, DOCM, XLSM, PPTM, ODT, ODS)},
}
_FAMILY_OF_EXTENSION: dict[str, str] = {
    "pdf": "pdf", "txt": "text", "xml": "text", "hl7": "text", "hpr": "text", "csv": "text",
    "rtf": "text", "htm": "text", "html": "text", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "png": "image/png", "gif": "image/gif", "tif": "image/tiff", "tiff": "image/tiff",
    "heic": "image/heic", "heif": "image/heic", "dcm": "dicom", "p7s": "p7s", "zip": "zip",
    **{ext: "office" for ext in ("docx", "docm", "xlsx", "xlsm", "pptx", "pptm", "odt", "ods")},
}


def _against(family: str | None, detected: str) -> bool:
    """A declared family the detected type is not of (a type of no family is of none)."""
    return family is not None and family not in _FAMILY_OF_TYPE.get(detected, frozenset())


def contradicts(declared: str, detected: str) -> bool:
    """A declared Content-Type of a known family that the detected type is not of."""
    family = "text" if declared.startswith("text/") else _FAMILY_OF_DECLARED.get(declared)
    return _against(family, detected)


def extension_contradicts(extension: str, detected: str) -> bool:
    """A file extension of a known family that the detected type is not of."""
    return _against(_FAMILY_OF_EXTENSION.get(extension), detected)
