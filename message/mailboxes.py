"""A strict RFC 5322 mailbox-list reader for the author fields (From, Sender).

Owns: `strict_mailboxes(value)`, which returns the lower-cased addr-specs of
a mailbox-list, or raises `Ambiguous` naming why the value cannot be trusted.
Where mail software could read a value in more than one way (the source of
From spoofing through parser differences), it is refused instead of guessed.

Accepted, and nothing else:
- `addr-spec` or `[display-name] "<" addr-spec ">"`, separated by commas;
- a display name of atoms and quoted strings (encoded-words, periods and
  UTF-8 text allowed there: it is never compared);
- comments only outside the angle brackets, between the words;
- an addr-spec written without any white space or comment, its local part a
  dot-atom and its domain a host name (letters, digits, hyphens, dots).

Refused (`Ambiguous`): group syntax, empty members, a quoted local part, a
domain literal, an encoded-word or non-ASCII text in an address, a source
route, white space or a comment inside an address, an `@` or other special
outside a quoted string or an address, unbalanced quotes, brackets or
parentheses, and control characters.

Ref: RFC 5322 3.2.2 (comments, CFWS), 3.2.3 (atom, dot-atom), 3.2.4 (quoted
strings), 3.4 (mailbox, name-addr, angle-addr, group), 3.4.1 (addr-spec);
RFC 5321 4.1.2 (Domain); RFC 2047 5 (where encoded-words may appear).
"""

from __future__ import annotations

import re

# RFC 5322 3.2.3: atext, plus "." so that a dot-atom is one token (checked below).
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\u0080-\U0010ffff]+")
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
# RFC 5321 4.1.2: Domain = sub-domain *("." sub-domain), Let-dig [Ldh-str].
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_SPACE = re.compile(r"[ \t]+")
_SPECIALS = {"<": "<", ">": ">", "@": "@", ",": ",", ":": "group", ";": "group",
             "[": "domain literal", "]": "domain literal"}

Token = tuple[str, str]  # (kind, text): atom, quoted, comment, space or a special


class Ambiguous(ValueError):
    """The value is not a plain mailbox-list; the message says why (no value quoted)."""


def _closing(value: str, start: int, opener: str, closer: str) -> int:
    """Index after the quoted string or (nested) comment opening at `start`."""
    depth, pos = 0, start
    while pos < len(value):
        char = value[pos]
        if char == "\\":  # RFC 5322 3.2.1: quoted-pair
            pos += 2
            continue
        if char in "\r\n\x00":
            raise Ambiguous("control character in a quoted string or comment")
        if char == closer and (opener == '"' and pos > start or depth == 1):
            return pos + 1
        if opener == "(" and char == "(":
            depth += 1
        elif opener == "(" and char == ")":
            depth -= 1
        pos += 1
    raise Ambiguous("unterminated quoted string or comment")


def _tokens(value: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(value):
        char = value[pos]
        if space := _SPACE.match(value, pos):
            end = space.end()
            out.append(("space", " "))
        elif char in '"(':
            end = _closing(value, pos, char, '"' if char == '"' else ")")
            out.append(("quoted" if char == '"' else "comment", value[pos:end]))
        elif char in _SPECIALS:
            end = pos + 1
            out.append((char, char))
        elif match := _ATEXT.match(value, pos):
            end = match.end()
            out.append(("atom", match.group()))
        else:
            raise Ambiguous("character outside the RFC 5322 address syntax")
        pos = end
    return out


def _members(tokens: list[Token]) -> list[list[Token]]:
    members: list[list[Token]] = [[]]
    for kind, text in tokens:
        if kind in (":", ";", "[", "]"):
            raise Ambiguous(_SPECIALS[kind] + " syntax")
        if kind == ",":
            members.append([])
        else:
            members[-1].append((kind, text))
    return members


def _addr_spec(tokens: list[Token]) -> str:
    """RFC 5322 3.4.1 addr-spec, strictly: dot-atom "@" host name, nothing between."""
    kinds = [kind for kind, _ in tokens]
    if kinds != ["atom", "@", "atom"]:
        if "quoted" in kinds:
            raise Ambiguous("quoted local part")
        raise Ambiguous("not a plain local@domain address")
    local, domain = tokens[0][1], tokens[2][1]
    if "=?" in local or "=?" in domain:  # RFC 2047 5: never inside an addr-spec
        raise Ambiguous("encoded-word in an address")
    if not (local.isascii() and domain.isascii()):
        raise Ambiguous("non-ASCII address")
    if not _DOT_ATOM.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise Ambiguous("malformed local part or domain")
    return f"{local}@{domain}".lower()


def _trim(tokens: list[Token]) -> list[Token]:
    """Without the CFWS at either end (RFC 5322 3.2.2)."""
    kinds = [kind for kind, _ in tokens]
    start = next((i for i, k in enumerate(kinds) if k not in ("space", "comment")), len(kinds))
    end = len(kinds) - next((i for i, k in enumerate(reversed(kinds))
                             if k not in ("space", "comment")), len(kinds))
    return tokens[start:end]


def _mailbox(tokens: list[Token]) -> str:
    """RFC 5322 3.4: name-addr or addr-spec."""
    words = _trim(tokens)
    if not words:
        raise Ambiguous("empty list member")
    kinds = [kind for kind, _ in words]
    if "<" not in kinds and ">" not in kinds:
        return _addr_spec(words)
    if kinds.count("<") != 1 or kinds.count(">") != 1 or kinds[-1] != ">":
        raise Ambiguous("unbalanced angle brackets")
    opening = kinds.index("<")
    if any(kind not in ("atom", "quoted", "space", "comment") for kind in kinds[:opening]):
        raise Ambiguous("special character in the display name")
    return _addr_spec(words[opening + 1 : -1])


def strict_mailboxes(value: str) -> tuple[str, ...]:
    """The lower-cased addr-specs of a mailbox-list; `Ambiguous` when it is anything else."""
    members = _members(_tokens(value))
    return tuple(_mailbox(member) for member in members)
