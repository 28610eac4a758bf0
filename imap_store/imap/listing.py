"""LIST and LSUB: matching folder names against a reference and a pattern.

Owns: wildcard matching (`*` any characters, `%` any but the delimiter),
mailbox attributes (\\HasChildren / \\HasNoChildren, SPECIAL-USE attributes)
and the `* LIST` / `* LSUB` responses with names encoded in modified UTF-7.

Invariants: the hierarchy delimiter is `/`; `INBOX` matches case-insensitively;
`LIST "" ""` returns the delimiter and root with `\\Noselect`; the pattern is
matched by a compiled regular expression built from escaped literal parts, so
no client text is ever interpreted as a regular expression.

Ref: RFC 3501 6.3.8, 6.3.9, 7.2.2, 7.2.3; RFC 3348 (CHILDREN);
RFC 6154 (SPECIAL-USE).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import mutf7
from .backend import FolderInfo
from .response import IString, UntaggedData, atoms, istring

DELIMITER = "/"


def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "%":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def _matches(regex: re.Pattern[str], name: str) -> bool:
    if regex.fullmatch(name):
        return True
    if name.upper() == "INBOX" or name.upper().startswith("INBOX/"):
        return bool(re.compile(regex.pattern, re.DOTALL | re.IGNORECASE).fullmatch(name))
    return False


def _attributes(folder: FolderInfo, names: frozenset[str]) -> list[str]:
    prefix = folder.name + DELIMITER
    children = any(other.startswith(prefix) for other in names)
    attrs = ["\\HasChildren" if children else "\\HasNoChildren"]
    if folder.special_use:
        attrs.append(folder.special_use)
    return attrs


def mailbox_value(name: str) -> IString:
    """A folder name on the wire (modified UTF-7)."""
    return IString(mutf7.encode(name))


def list_responses(
    folders: Sequence[FolderInfo], reference: str, pattern: str, *, lsub: bool
) -> list[UntaggedData]:
    """The untagged LIST or LSUB responses for a reference and pattern."""
    keyword = "LSUB" if lsub else "LIST"
    if not pattern:
        root = reference.split(DELIMITER, 1)[0] + DELIMITER if DELIMITER in reference else ""
        return [UntaggedData(keyword, (atoms(["\\Noselect"]), istring(DELIMITER), istring(root)))]
    regex = _regex(reference + pattern)
    names = frozenset(folder.name for folder in folders)
    out = []
    for folder in sorted(folders, key=lambda f: (f.name.upper() != "INBOX", f.name)):
        if (lsub and not folder.subscribed) or not _matches(regex, folder.name):
            continue
        attrs = [] if lsub else _attributes(folder, names)
        values = (atoms(attrs), istring(DELIMITER), mailbox_value(folder.name))
        out.append(UntaggedData(keyword, values))
    return out
