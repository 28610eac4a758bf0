"""LIST and LSUB: matching folder names against a reference and a pattern.

Owns: wildcard matching (`*` any characters, `%` any but the delimiter),
mailbox attributes (\\HasChildren / \\HasNoChildren, \\Noselect for levels
that are not folders, SPECIAL-USE attributes) and the `* LIST` / `* LSUB`
responses with names encoded in modified UTF-7.

Invariants: the hierarchy delimiter is `/`; `INBOX` matches case-insensitively;
`LIST "" ""` returns the delimiter and root with `\\Noselect`; a level that
only exists because a deeper folder does (its folder was deleted, or was
never created) is listed `\\Noselect \\HasChildren`; LSUB lists the
subscribed names, and for a subscribed `a/b` that `%` does not reach, the
level `a` with `\\Noselect` when `a` itself is not subscribed (RFC 3501
6.3.9); the pattern is matched by a compiled regular expression built from
escaped literal parts, so no client text is ever interpreted as a regular
expression; only the names of the logged-in BAL are ever given here.

Ref: RFC 3501 6.3.8, 6.3.9, 7.2.2, 7.2.3; RFC 3348 (CHILDREN);
RFC 6154 (SPECIAL-USE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from imap_store.imap.render.response import IString, UntaggedData, atoms, istring

from .backend import FolderInfo
from .parse import mutf7

DELIMITER = "/"


def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        if ch == "*":  # RFC 3501 6.3.8: "*" matches anything, the delimiter included
            parts.append(".*")
        elif ch == "%":  # RFC 3501 6.3.8: "%" stops at the hierarchy delimiter
            parts.append("[^/]*")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def _matches(regex: re.Pattern[str], name: str) -> bool:
    if regex.fullmatch(name):
        return True
    if name.upper() == "INBOX" or name.upper().startswith("INBOX/"):  # RFC 3501 5.1
        return bool(re.compile(regex.pattern, re.DOTALL | re.IGNORECASE).fullmatch(name))
    return False


def superiors(name: str) -> list[str]:
    """The levels above a name: `a/b/c` -> `a`, `a/b`."""
    levels = name.split(DELIMITER)
    return [DELIMITER.join(levels[:n]) for n in range(1, len(levels))]


def _has_children(name: str, names: Iterable[str]) -> bool:
    prefix = name + DELIMITER
    return any(other.startswith(prefix) for other in names)


def mailbox_value(name: str) -> IString:
    """A folder name on the wire (modified UTF-7)."""
    return IString(mutf7.encode(name))


def _order(name: str) -> tuple[bool, str]:
    return (name.upper() != "INBOX", name)


def _root(keyword: str, reference: str) -> list[UntaggedData]:
    # RFC 3501 6.3.8: an empty pattern returns the delimiter and the root name, \Noselect.
    root = reference.split(DELIMITER, 1)[0] + DELIMITER if DELIMITER in reference else ""
    return [UntaggedData(keyword, (atoms(["\\Noselect"]), istring(DELIMITER), istring(root)))]


def _response(keyword: str, name: str, attrs: list[str]) -> UntaggedData:
    return UntaggedData(keyword, (atoms(attrs), istring(DELIMITER), mailbox_value(name)))


def list_responses(
    folders: Sequence[FolderInfo], reference: str, pattern: str
) -> list[UntaggedData]:
    """The untagged LIST responses for a reference and pattern."""
    if not pattern:
        return _root("LIST", reference)
    regex = _regex(reference + pattern)
    real = {folder.name: folder for folder in folders}
    levels = {p for name in real for p in superiors(name)} - set(real)
    return [_response("LIST", name, _list_attributes(name, real))
            for name in sorted(set(real) | levels, key=_order) if _matches(regex, name)]


def _list_attributes(name: str, real: dict[str, FolderInfo]) -> list[str]:
    folder = real.get(name)
    if folder is None:  # RFC 3348 3: a level that exists only through its children
        return ["\\Noselect", "\\HasChildren"]
    attrs = ["\\HasChildren" if _has_children(name, real) else "\\HasNoChildren"]
    return attrs + [folder.special_use] if folder.special_use else attrs


def lsub_responses(
    subscribed: Sequence[str], folders: Sequence[FolderInfo], reference: str, pattern: str
) -> list[UntaggedData]:
    """The untagged LSUB responses for a reference and pattern."""
    if not pattern:
        return _root("LSUB", reference)
    regex = _regex(reference + pattern)
    real = {folder.name for folder in folders}
    chosen: dict[str, list[str]] = {}
    for name in subscribed:
        if _matches(regex, name):
            chosen[name] = [] if name in real else ["\\Noselect"]
            continue
        for level in superiors(name):  # RFC 3501 6.3.9: "%" reaching only a superior level
            if level not in subscribed and _matches(regex, level):
                chosen.setdefault(level, ["\\Noselect"])
    return [_response("LSUB", name, attrs) for name, attrs in sorted(
        chosen.items(), key=lambda item: _order(item[0]))]
