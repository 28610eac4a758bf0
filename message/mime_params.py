"""Parameters of Content-Type and Content-Disposition, as BODYSTRUCTURE shows them.

Owns: `header_params(value)`, which splits a header value into its leading
token (the type or disposition kind) and its `(name, value)` parameters.

Invariants: quoted values are unquoted; RFC 2231 continuations (`name*0`,
`name*1*`, ...) are joined in order; a value that is RFC 2231 encoded keeps
its encoded form under the name `name*` (as Dovecot does), so no 8-bit text
is invented; names are upper-cased; a parameter repeated keeps its first
value; garbage never raises (an unparsable piece is skipped).

Ref: RFC 2045 5.1 (parameter syntax), RFC 2231 3-4 (continuations, charset),
RFC 3501 9 (`body-fld-param`).
"""

from __future__ import annotations

import re

# RFC 2045 5.1: parameter := attribute "=" value, value := token / quoted-string.
_PARAM = re.compile(r'\s*([^\s=;"]+)\s*=\s*("(?:\\.|[^"\\])*"?|[^;]*)', re.S)
_SECTION = re.compile(r"^(.*?)\*(\d{1,3})(\*?)$")  # RFC 2231 3: name*0, name*1*, ...
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")  # RFC 5322 2.2.3: unfolding removes the line break


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        inner = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
        return re.sub(r"\\(.)", r"\1", inner)  # RFC 5322 3.2.4: quoted-pair
    return value


def _pieces(value: str) -> tuple[str, list[tuple[str, str]]]:
    head, _, rest = value.partition(";")
    pairs = []
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None:
            nxt = rest.find(";", pos)
            pos = len(rest) if nxt < 0 else nxt + 1
            continue
        pairs.append((match.group(1), _unquote(match.group(2))))
        pos = match.end()
        pos = rest.find(";", pos) + 1 or len(rest)
    return head.strip(), pairs


Sections = dict[str, list[tuple[int, bool, str]]]


def _split_sections(pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], Sections]:
    plain: list[tuple[str, str]] = []
    sections: Sections = {}
    for name, value in pairs:
        match = _SECTION.match(name)
        if match is None:
            plain.append((name, value))
            continue
        if match.group(1).upper() not in sections:
            plain.append((match.group(1), ""))
        sections.setdefault(match.group(1).upper(), []).append(
            (int(match.group(2)), bool(match.group(3)), value))
    return plain, sections


def _join_sections(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    plain, sections = _split_sections(pairs)
    out = []
    for name, value in plain:
        pieces = sorted(sections.get(name.upper(), []))  # RFC 2231 3: joined in number order
        if not pieces or value:
            out.append((name, value))
        else:
            # RFC 2231 4: an encoded value keeps its encoded form under `name*` (as Dovecot).
            out.append((name + "*" if pieces[0][1] else name, "".join(p[2] for p in pieces)))
    return out


def header_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """(leading token, [(NAME, value), ...]) of a structured header value."""
    head, pairs = _pieces(_UNFOLD.sub("", value))
    seen: set[str] = set()
    out = []
    for name, text in _join_sections(pairs):
        key = name.upper()
        if key not in seen:  # a repeated parameter keeps its first value
            seen.add(key)
            out.append((key, text))
    return head, out
