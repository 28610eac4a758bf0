"""Attachment rule: every file of a message checked on its detected type, at end of DATA.

Owns the rule `attachments` (`check`). It reads the message's files as the
parser found them (`DataContext.content`: detected type, declared type, name
digest and extensions, findings) and the operator's `AttachmentPolicy`.

Decision, per file in walk order, the first refusal winning:
1. the EICAR test file: `554 5.7.1` (MALWARE_FOUND);
2. a program of any common platform, detected on the content: `554 5.7.1`;
   a script (`#!`) too, unless it is the text of the message body;
3. a file name with a bidirectional control character, or whose last
   extension makes a program (`.exe`, `.js`, ...), named a double extension
   when another extension comes before it (`compte-rendu.pdf.exe`);
4. a macro (macro-enabled type, or a VBA or Excel 4.0 project found), an
   encrypted archive or document, an archive past a bound (entries,
   expanded size, ratio, depth), a container that cannot be read, an
   `IHE_XDM.ZIP` without the XDM structure;
5. a declared Content-Type or a file extension that contradicts the content
   (`policy.attachment_types` families);
6. a type not on the allow-list, except the message's own text (`BODY_TYPES`,
   which contradict no declared text type),
   the `INDEX.HTM` of a valid XDM package, and OLE objects embedded in a
   document (the files they package are checked as files).
Refusals 2-6 answer `554 5.7.1` (ATTACHMENT_REFUSED, or ATTACHMENT_NOT_ALLOWED
for 6). Before any file: malformed MIME gets `554 5.6.0` when the policy
refuses it (otherwise the message is checked as far as it can be read), and
a message with more files than the walk may look at gets `554 5.7.1`.

The audit reason names the part's path and detected type, and a file name only
as its digest: `part 2/1: executable (detected application/x-elf, name
sha256:0123456789abcdef)`.

Ref: R20 (IHE_XDM.ZIP), R26; RFC 3463 3.7 (5.6.0), 3.8 (5.7.1);
docs/architecture.md "Conventions" 1, 5.
"""

from __future__ import annotations

from .attachment_types import (
    BODY_TYPES,
    EMBEDDED_TYPES,
    EXECUTABLE_EXTENSIONS,
    EXECUTABLE_TYPES,
    HTML,
    MACRO_TYPES,
    SCRIPT_TYPES,
    contradicts,
    extension_contradicts,
)
from .content import AttachmentPolicy, ItemView
from .context import DataContext
from .replies import (
    ATTACHMENT_NOT_ALLOWED,
    ATTACHMENT_REFUSED,
    MALFORMED_MIME,
    MALWARE_FOUND,
    TOO_MANY_PARTS,
)
from .reply import Reply
from .verdict import Verdict

NAME = "attachments"

_FINDINGS = (  # finding -> why, in the order they are reported
    ("macro", "macro"), ("encrypted", "encrypted, cannot be checked"),
    ("archive-entries", "archive over the entry bound"),
    ("archive-size", "archive over the expanded size bound"),
    ("archive-ratio", "archive over the expansion ratio bound"),
    ("archive-depth", "archive nested over the depth bound"),
    ("unreadable", "container cannot be read"),
    ("xdm-invalid", "IHE_XDM.ZIP without the XDM structure"))


def _program(item: ItemView) -> str | None:
    if item.detected in EXECUTABLE_TYPES:
        return "executable"
    if item.detected in SCRIPT_TYPES and item.role != "body":
        return "script"
    return None


def _name(item: ItemView) -> str | None:
    for name in item.names:
        if name.bidi:
            return "file name with bidirectional control characters"
        if name.extensions and name.extensions[-1] in EXECUTABLE_EXTENSIONS:
            return "double extension" if len(name.extensions) > 1 else "executable file name"
    return None


def _finding(item: ItemView) -> str | None:
    if item.detected in MACRO_TYPES:
        return "macro-enabled document"
    return next((why for finding, why in _FINDINGS if finding in item.findings), None)


def _contradiction(item: ItemView) -> str | None:
    if item.role == "body" and item.detected in BODY_TYPES:
        return None
    if item.declared is not None and contradicts(item.declared, item.detected):
        return f"declared {item.declared} contradicts the content"
    for name in item.names:
        if name.extensions and extension_contradicts(name.extensions[-1], item.detected):
            return f"extension .{name.extensions[-1]} contradicts the content"
    return None


def _allowed(item: ItemView, policy: AttachmentPolicy) -> bool:
    if item.role == "body" and item.detected in BODY_TYPES:
        return True
    if item.role == "xdm-index" and item.detected == HTML:
        return True
    if item.role == "embedded" and item.detected in EMBEDDED_TYPES:
        return True
    return item.detected in policy.allowed


def refusal(item: ItemView, policy: AttachmentPolicy) -> tuple[Reply, str] | None:
    """The reply and the reason that refuse this file, or None."""
    if "eicar" in item.findings:
        return MALWARE_FOUND, "EICAR test file"
    for test in (_program, _name, _finding, _contradiction):
        why = test(item)
        if why is not None:
            return ATTACHMENT_REFUSED, why
    if not _allowed(item, policy):
        return ATTACHMENT_NOT_ALLOWED, "type not on the allow-list"
    return None


def _reason(item: ItemView, why: str) -> str:
    names = "".join(f", name sha256:{name.digest}" for name in item.names)
    return f"part {item.path}: {why} (detected {item.detected}{names})"


def check(ctx: DataContext) -> Verdict | None:
    """DATA: refuse a message carrying a file the content policy refuses (R26)."""
    content, policy = ctx.content, ctx.attachment_policy
    if content is None:
        return None
    if content.problems and policy.refuse_malformed:
        return Verdict.reject(NAME, MALFORMED_MIME, f"malformed MIME: {content.problems[0]}")
    if not content.complete:
        return Verdict.reject(NAME, TOO_MANY_PARTS, "more files than the walk looks at")
    for item in content.items:
        found = refusal(item, policy)
        if found is not None:
            return Verdict.reject(NAME, found[0], _reason(item, found[1]))
    return None
