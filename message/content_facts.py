"""What a message carries, file by file: the facts the attachment rule decides on.

Owns: `FileName`, `ItemFacts`, `ContentFacts` and `scan_content(content, bounds, root)`.

The walk goes through the whole MIME tree (`mime_tree`: nested multiparts,
attached message/rfc822 messages, also when they carry a transfer encoding),
decodes each leaf (`transfer_encoding`), decides its type on its octets
(`file_type`), and goes into containers: ZIP archives and their entries
(`archives`, to `max_archive_depth`), the embedded objects of OOXML
documents and the files packaged in OLE objects (`office`). Each file gives
one `ItemFacts`, the container before its content.

Paths: MIME parts are numbered as IMAP sections (RFC 3501 6.4.5: `1`, `2.1`;
the parts of an attached message under the attachment's number); a file inside
a container adds `/` and its 1-based position (`2/3`, `2/3/1`). File names are
never kept: only a SHA-256 prefix (they can carry a patient's name), their
last extensions and whether they hold bidirectional control characters.

Roles: `body` is a text part without a file name and not `attachment`
(the text the recipient reads); `file` any other MIME leaf; `entry` a file in
an archive; `xdm-index` the `INDEX.HTM` of a valid XDM package; `embedded` an
object embedded in an office document; `packaged` a file packaged in an OLE
object.

Findings (on `ItemFacts.findings`): `eicar`, `macro`, `encrypted`,
`archive-entries`, `archive-size`, `archive-ratio`, `archive-depth`,
`unreadable`, `xdm`, `xdm-invalid`. Malformed MIME (`ContentFacts.problems`):
a multipart without boundary, without parts or without its close delimiter,
a transfer encoding not defined by RFC 2045, invalid base64.

IHE XDM: a ZIP attachment named `IHE_XDM.ZIP`, or one holding an `IHE_XDM/`
folder, is an XDM package; it is valid when it has `INDEX.HTM` and
`README.TXT` at its root and at least one `IHE_XDM/<subset>/METADATA.XML`.

Invariants: CPU-bound, no I/O (the gateway runs it off the event loop for
large messages); never raises on any input; bounded by `ScanBounds` (at most
`max_parts` files are looked at; beyond, `complete` is False); a leaf is read
in the message's own octets (`MimePart.body_range`): its type is decided on
its first `file_type.HEAD` decoded octets, the rest of a base64 body is only
checked, and only a ZIP or OLE file is decoded or copied whole, so the walk
caches no body copy on the tree it is given and no C call covers a whole part.

Ref: R20 (IHE_XDM.ZIP), R26; RFC 2045 6 (transfer encodings), RFC 2046 5.1.1
(boundaries), 5.2.1 (message/rfc822), RFC 2183 2 (Content-Disposition),
RFC 2231 4 and RFC 2047 (encoded file names); IHE ITI TF-1 16 (XDM media).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import decode_header
from functools import partial

from . import office
from .archives import Budget, Entry, ScanBounds, read_zip
from .file_type import HEAD, OLE, ZIP, detect, is_eicar, looks_like_zip
from .mime_params import header_params
from .mime_tree import (
    MAX_DEPTH,
    MimePart,
    multipart_closed,
    parse_message,
    parse_part,
    unclosed_part,
)
from .octets import octets
from .transfer_encoding import (
    IDENTITY,
    base64_defect,
    decode_base64,
    decode_base64_head,
    quoted_printable,
)

_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_XDM_METADATA = re.compile(r"IHE_XDM/[^/]+/METADATA\.XML")
_ARCHIVE_HINTS = (b"PK\x03\x04", b"UEsDB", b"\xd0\xcf\x11\xe0", b"0M8R4KGxGuE")
ENCAPSULATED = ("base64", "quoted-printable")


@dataclass(frozen=True)
class FileName:
    """What the checks keep of a file name: never the name itself."""

    digest: str
    """The first 16 hex digits of the SHA-256 of the name (UTF-8)."""
    extensions: tuple[str, ...]
    """The last three extensions at most, lower-case (`compte-rendu.pdf.exe`: pdf, exe)."""
    bidi: bool
    """The name holds a bidirectional control character (it can show `exe.pdf` for `fdp.exe`)."""


@dataclass(frozen=True)
class ItemFacts:
    """One file of the message: a MIME leaf, an archive entry, an embedded file."""

    path: str
    role: str
    detected: str
    declared: str | None = None
    """The Content-Type of a MIME part that has one (lower-case `type/subtype`)."""
    names: tuple[FileName, ...] = ()
    findings: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ContentFacts:
    """Every file of a message and what is malformed in its structure."""

    items: tuple[ItemFacts, ...] = ()
    problems: tuple[str, ...] = ()
    complete: bool = True
    """False when the message holds more files than `ScanBounds.max_parts`."""


def file_name(name: str) -> FileName:
    """The kept facts of one file name."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    base = re.split(r"[/\\]", name)[-1].rstrip(". \t")  # Windows ignores trailing dots, blanks
    extensions = tuple(ext.strip().lower()[:16] for ext in base.split(".")[1:])[-3:]
    return FileName(digest, extensions, _BIDI.search(name) is not None)


def _rfc2231(value: str) -> str:
    charset, _, rest = value.partition("'")
    _, _, encoded = rest.partition("'")
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:
        return urllib.parse.unquote(encoded, encoding="latin-1")


def _rfc2047(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        pieces = decode_header(value)
    except (ValueError, LookupError):
        return value
    return "".join(text.decode(charset or "latin-1", "replace")
                   if isinstance(text, bytes) else text for text, charset in pieces)


def _decoded_names(params: list[tuple[str, str]], key: str) -> list[str]:
    found = dict(params)
    names = [_rfc2231(found[key + "*"])] if key + "*" in found else []
    if found.get(key):
        names.append(_rfc2047(found[key]))
    return names


def part_names(part: MimePart) -> tuple[str, list[str]]:
    """(disposition, every file name the part gives): Content-Disposition and Content-Type."""
    disposition, params = header_params(part.header_text("content-disposition") or "")
    names = _decoded_names(params, "FILENAME")
    type_value = part.header_text("content-type")
    if type_value is not None:
        names += _decoded_names(header_params(type_value)[1], "NAME")
    return disposition.lower(), list(dict.fromkeys(names))


def _section(path: str, number: int) -> str:
    return f"{path}.{number}" if path else str(number)


def _xdm(own_names: list[str], entry_names: tuple[str, ...]) -> set[str]:
    upper = [name.upper() for name in entry_names]
    named = any(name.upper().endswith("IHE_XDM.ZIP") for name in own_names)
    if not named and not any(name.startswith("IHE_XDM/") for name in upper):
        return set()
    valid = ("INDEX.HTM" in upper and "README.TXT" in upper
             and any(_XDM_METADATA.fullmatch(name) for name in upper))
    return {"xdm"} if valid else {"xdm", "xdm-invalid"}


@dataclass
class _Walk:
    bounds: ScanBounds
    budget: Budget
    items: list[ItemFacts] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    complete: bool = True

    def problem(self, path: str, what: str) -> None:
        self.problems.append(f"part {path}: {what}")

    # --- the MIME tree -------------------------------------------------------------------

    def message(self, root: MimePart, prefix: str) -> None:
        """A message whose parts are numbered under `prefix` ("" for the message itself)."""
        if root.maintype == "multipart":
            self.multipart(root, prefix)
        else:
            self.leaf(root, _section(prefix, 1))

    def entity(self, part: MimePart, path: str) -> None:
        if part.maintype == "multipart":
            self.multipart(part, path)
        elif part.mime_type == "message/rfc822":
            inner = self.inner_message(part)
            if inner is not None:
                self.message(inner, path)
        else:
            self.leaf(part, path)

    def multipart(self, part: MimePart, path: str) -> None:
        """A multipart whose body parts are numbered under `path` ("" for the message)."""
        if part.depth >= MAX_DEPTH:  # deeper than the tree holds: the nesting bound refuses it
            return
        label = path or "TEXT"  # RFC 3501 6.4.5: the body of the message itself
        if part.boundary is None:  # RFC 2046 5.1.1: the boundary parameter is required
            self.problem(label, "multipart without boundary")
            self.leaf(part, path or "1")
            return
        closed = multipart_closed(part)
        tail = None if closed else unclosed_part(part)  # shown by mail readers: checked too
        children = list(part.children) + ([tail] if tail is not None else [])
        if not children:
            self.problem(label, "multipart without body parts")
        elif not closed:
            self.problem(label, "multipart without its close delimiter")
        for number, child in enumerate(children, 1):
            self.entity(child, _section(path, number))

    def inner_message(self, part: MimePart) -> MimePart | None:
        encoding = (part.header_text("content-transfer-encoding") or "").strip().lower()
        if encoding not in ENCAPSULATED:
            return part.encapsulated
        if part.depth + 1 >= MAX_DEPTH:
            return None
        if encoding == "base64":
            decoded = decode_base64(*part.body_range)
        else:
            decoded = quoted_printable(octets(*part.body_range))
        return parse_part(decoded, part.depth + 1)

    def leaf(self, part: MimePart, path: str) -> None:
        """A MIME leaf: its type is decided on its first `HEAD` decoded octets; the rest
        is decoded (or copied out of the message) only for a ZIP or OLE file, opened whole."""
        encoding = (part.header_text("content-transfer-encoding") or "").strip()
        source, start, stop = part.body_range
        name = encoding.upper()
        whole: Callable[[], bytes] | None = None
        if name == "BASE64":
            data, complete = decode_base64_head(source, HEAD, start, stop)
            if not complete:
                whole = partial(decode_base64, source, start, stop)
        elif name == "QUOTED-PRINTABLE":
            data = quoted_printable(octets(source, start, stop))
        else:
            if name not in IDENTITY:  # RFC 2045 6.1: not a defined encoding; the octets sent
                self.problem(path, "unknown transfer encoding")
            data = source[start : min(stop, start + HEAD)]
            if stop - start > HEAD:
                whole = partial(octets, source, start, stop)
        if name == "BASE64" and (defect := base64_defect(source, start, stop)):
            self.problem(path, defect)
        disposition, names = part_names(part)
        textual = part.maintype == "text" and not names and disposition != "attachment"
        declared = part.mime_type if part.header_text("content-type") is not None else None
        self.file(data, path, "body" if textual else "file", names, declared, whole=whole)

    # --- files and their containers ------------------------------------------------------

    def file(self, data: bytes, path: str, role: str, names: list[str],
             declared: str | None = None, archive_depth: int = 0,
             whole: Callable[[], bytes] | None = None) -> None:
        """One file; `data` its octets, or with `whole` their first `HEAD` octets at least
        (`detect` reads no more; more than 128 octets are not EICAR) and how to get them all."""
        if len(self.items) >= self.bounds.max_parts:
            self.complete = False
            return
        kind = detect(data)
        findings = {"eicar"} if is_eicar(data) else set()
        if whole is not None and kind in (ZIP, OLE):
            data = whole()
        inside: list[tuple[str, str, list[str], bytes]] = []
        if kind == ZIP:
            kind, found, inside = self.zip(data, names, archive_depth + 1)
            findings |= found
        elif kind == OLE:
            ole = office.ole_facts(data)
            kind, findings = ole.kind, findings | ole.findings
            inside = [(str(n), "packaged", [name] if name else [], packaged)
                      for n, (name, packaged) in enumerate(ole.packaged, 1)]
        self.items.append(ItemFacts(path, role, kind, declared,
                                    tuple(file_name(name) for name in names),
                                    frozenset(findings)))
        for number, inner_role, inner_names, inner in inside:
            self.file(inner, f"{path}/{number}", inner_role, inner_names,
                      archive_depth=archive_depth + 1)

    def zip(self, data: bytes, names: list[str], depth: int
            ) -> tuple[str, set[str], list[tuple[str, str, list[str], bytes]]]:
        if depth > self.bounds.max_archive_depth:
            return ZIP, {"archive-depth"}, []
        listing = read_zip(data, self.bounds, self.budget, office.wanted_entries)
        if listing.problem is not None:
            return ZIP, {listing.problem}, []
        contents = {entry.name: entry.data for entry in listing.entries}
        kind, macro = office.zip_kind(listing.names, contents.get)
        findings = {"macro"} if macro else set()
        if office.is_office_zip(listing.names):
            if office.CONTENT_TYPES in listing.names and not macro:
                findings |= _ooxml_macros(data)
            return kind or ZIP, findings, _embedded(listing.entries)
        if kind is not None:  # a Java or Android package: refused, not opened
            return kind, findings, []
        findings |= _xdm(names, listing.names)
        index = "xdm-index" if findings == {"xdm"} else "entry"
        return ZIP, findings, [
            (str(entry.index), index if entry.name.upper() == "INDEX.HTM" else "entry",
             [entry.name], entry.data) for entry in listing.entries]


def _ooxml_macros(data: bytes) -> set[str]:
    found = office.ooxml_has_macros(data)
    return {"unreadable"} if found is None else ({"macro"} if found else set())


def _embedded(entries: tuple[Entry, ...]) -> list[tuple[str, str, list[str], bytes]]:
    return [(str(entry.index), "embedded", [entry.name], entry.data)
            for entry in entries if office.is_embedding(entry.name)]


def may_expand(content: bytes) -> bool:
    """Whether `content` may hold an archive or an OLE file (then its check may expand data).

    The gateway runs the check off the event loop when this is true, whatever the
    message's size: a small ZIP can expand to `max_archive_size` octets.
    """
    return any(hint in content for hint in _ARCHIVE_HINTS) or looks_like_zip(content)


def scan_content(content: bytes, bounds: ScanBounds | None = None,
                 root: MimePart | None = None) -> ContentFacts:
    """The content facts of a whole message (CPU-bound, no I/O); `root`: the message
    already parsed (`parse_message(content)`), not parsed again."""
    limits = bounds or ScanBounds()
    walk = _Walk(limits, Budget(limits.max_archive_size))
    walk.message(parse_message(content) if root is None else root, "")
    return ContentFacts(tuple(walk.items), tuple(walk.problems), walk.complete)
