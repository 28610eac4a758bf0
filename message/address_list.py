"""A tolerant RFC 5322 address-list parser for ENVELOPE.

Owns: `parse_addresses(text)`, which turns a header value into mailboxes and
group markers: `Mailbox(name, route, local, domain)`, `GroupStart(name)` and
`GroupEnd()`, keeping display names as written (encoded-words are not decoded
in ENVELOPE, RFC 3501 7.4.2).

Invariants: never raises on any input (garbage yields fewer or odd addresses,
never an exception); a comment names a mailbox that has no display name
(`user@domain (Real Name)`, as Dovecot does), other comments are dropped,
also inside an angle address; quoted strings are unquoted; an unterminated
group is closed at the end of the value.

Ref: RFC 5322 3.4 (address, mailbox, group, angle-addr), 3.2.2-3.2.4
(comments, quoted strings); RFC 3501 7.4.2 (address structure, group syntax).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENT = re.compile(r"\((?:\\.|[^()\\])*\)?")  # RFC 5322 3.2.2: comment with quoted-pairs
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"?|\((?:\\.|[^()\\])*\)?|<[^>]*>?|[,:;]|[^\s",:;<(]+', re.S)


@dataclass(frozen=True)
class Mailbox:
    """One address: display name, source route, local part, domain."""

    name: str | None
    route: str | None
    local: str
    domain: str | None


@dataclass(frozen=True)
class GroupStart:
    """`name:` opening a group."""

    name: str


@dataclass(frozen=True)
class GroupEnd:
    """`;` closing a group."""


Address = Mailbox | GroupStart | GroupEnd


def _unquote(word: str) -> str:
    if word.startswith('"'):
        # RFC 5322 3.2.4: quoted-string, a backslash quotes the next character.
        return re.sub(r"\\(.)", r"\1", word[1:-1] if word.endswith('"') else word[1:])
    return word


def _angle(text: str, words: list[str]) -> Mailbox:
    inner = "".join(_COMMENT.sub("", text.strip("<>")).split())
    route = None
    if inner.startswith("@") and ":" in inner:  # RFC 5322 4.4 obs-route; RFC 3501 `addr-adl`
        route, inner = inner.split(":", 1)
    # RFC 5322 3.4.1: addr-spec = local-part "@" domain, split at the last "@".
    local, _, domain = inner.rpartition("@") if "@" in inner else (inner, "", "")
    name = " ".join(_unquote(w) for w in words) or None
    return Mailbox(name, route, _unquote(local), domain or None)


def _comment(token: str) -> str | None:
    text = re.sub(r"\\(.)", r"\1", token[1:-1] if token.endswith(")") else token[1:])
    return " ".join(text.split()) or None


def _bare(words: list[str]) -> Mailbox | None:
    spec = "".join(words)
    if not spec:
        return None
    local, _, domain = spec.rpartition("@") if "@" in spec else (spec, "", "")
    return Mailbox(None, None, _unquote(local), domain or None)


class _State:
    def __init__(self) -> None:
        self.out: list[Address] = []
        self.words: list[str] = []
        self.angle: Mailbox | None = None
        self.comment: str | None = None
        self.in_group = False

    def finish(self) -> None:
        mailbox = self.angle or _bare(self.words)
        # `user@domain (Real Name)`: the comment names the mailbox, as Dovecot does.
        if mailbox is not None and mailbox.name is None and self.comment:
            mailbox = Mailbox(self.comment, mailbox.route, mailbox.local, mailbox.domain)
        if mailbox is not None:
            self.out.append(mailbox)
        self.words, self.angle, self.comment = [], None, None

    def token(self, tok: str) -> None:
        if tok == ",":
            self.finish()
        elif tok == ":" and not self.in_group and self.angle is None:  # RFC 5322 3.4: group
            self.out.append(GroupStart(" ".join(_unquote(w) for w in self.words)))
            self.words, self.in_group = [], True
        elif tok == ";" and self.in_group:
            self.finish()
            self.out.append(GroupEnd())
            self.in_group = False
        elif tok.startswith("<"):
            self.angle = _angle(tok, self.words)
        elif tok.startswith("("):
            self.comment = self.comment or _comment(tok)
        else:
            self.words.append(tok)


def parse_addresses(text: str) -> list[Address]:
    """Mailboxes and group markers of an address-list header value."""
    state = _State()
    for match in _TOKEN.finditer(text):
        state.token(match.group())
    state.finish()
    if state.in_group:  # an unterminated group is closed, so RFC 3501 7.4.2 markers pair up
        state.out.append(GroupEnd())
    return state.out
