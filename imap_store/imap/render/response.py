"""IMAP responses as values that render themselves to bytes.

Owns: the data values a server sends (atoms, numbers, strings, literals, NIL,
parenthesised lists), response codes, tagged and untagged status responses,
untagged data, FETCH data and command continuation requests.

Invariants: free text never carries CR, LF or NUL (it is sanitised); a string
is sent quoted only when it is 7-bit, has no CR/LF/NUL and is short, otherwise
as a synchronising-free server literal `{n}` (servers never wait); a string
(`IString`) never carries NUL, even as a literal (a NUL becomes U+FFFD);
text read from a message header (`header_nstring`: ENVELOPE, BODYSTRUCTURE)
also has each CR and LF made a space, as the header is unfolded. Only
message octets (`LiteralString`: BODY[...], RFC822...) and `literal8`
(BINARY) are sent as they are.

Ref: RFC 3501 4 (data formats), 7 (responses), 9 (formal syntax: `string`,
`nstring`, `resp-text-code`, `continue-req`); RFC 3516 4.3 (`literal8`);
RFC 9051 7.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias
from typing import Literal as TypingLiteral

MAX_QUOTED = 1024
_QUOTED_UNSAFE = frozenset(b"\r\n\x00") | frozenset(range(0x80, 0x100))
REPLACEMENT = "\ufffd".encode()  # U+FFFD, what a NUL is sent as in a string


class Nil:
    """The NIL value (RFC 3501 4.5)."""

    _instance: Nil | None = None

    def __new__(cls) -> Nil:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NIL"


NIL = Nil()


@dataclass(frozen=True, slots=True)
class Atom:
    """An atom or flag sent verbatim (caller guarantees ATOM-CHARs)."""

    text: str


@dataclass(frozen=True, slots=True)
class IString:
    """A string sent quoted when safe, else as a literal (RFC 3501 4.3)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LiteralString:
    """A string always sent as a literal (message bodies)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Literal8:
    """Binary content sent as `~{n}` (RFC 3516 4.3), for data holding NUL."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Rendered:
    """A value already rendered by `render_value` (a cached ENVELOPE or BODYSTRUCTURE),
    sent as it is."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ListOf:
    """A parenthesised list (RFC 3501 4.4)."""

    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Joined:
    """Values written side by side without spaces (`1*body` in BODYSTRUCTURE)."""

    items: tuple[Value, ...]


Value: TypeAlias = (Atom | IString | LiteralString | Literal8 | ListOf | Joined | Rendered | Nil
                    | int)


def istring(value: str | bytes) -> IString:
    """An IMAP string from text (UTF-8) or bytes."""
    return IString(value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value)


def nstring(value: str | bytes | None) -> IString | Nil:
    """`nstring`: NIL for None, else a string."""
    return NIL if value is None else istring(value)


def header_nstring(value: str | bytes | None) -> IString | Nil:
    """`nstring` of text from a message header: CR and LF become spaces, NUL U+FFFD.

    RFC 3501 9: `literal` is CHAR8, which excludes NUL; ENVELOPE and BODYSTRUCTURE
    strings are header values, unfolded, so a CR or LF left in one is a stray.
    The stored message is not changed: BODY[HEADER] still gives its octets.
    """
    if value is None:
        return NIL
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if b"\r" in data or b"\n" in data or b"\x00" in data:
        data = data.replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\x00", REPLACEMENT)
    return IString(data)


def atoms(names: Iterable[str]) -> ListOf:
    """A parenthesised list of atoms, e.g. a flag list."""
    return ListOf(tuple(Atom(name) for name in names))


def _quote(data: bytes) -> bytes:
    # RFC 3501 4.3: inside a quoted string only `"` and `\` are escaped.
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _literal(data: bytes) -> bytes:
    # RFC 3501 4.3: servers send `{n}` CRLF and the octets, never waiting for a "+".
    return b"{%d}\r\n" % len(data) + data


def _render_istring(value: IString) -> bytes:
    # RFC 3501 4.3: a quoted string is 7-bit without CR, LF or NUL; the rest is a literal,
    # which may not hold NUL either (RFC 3501 9: CHAR8).
    if len(value.data) > MAX_QUOTED or not _QUOTED_UNSAFE.isdisjoint(value.data):
        return _literal(value.data.replace(b"\x00", REPLACEMENT))
    return _quote(value.data)


def _render_literal(value: LiteralString) -> bytes:
    return _literal(value.data) if value.data else b'""'


def _render_list(value: ListOf) -> bytes:
    return b"(" + b" ".join([render_value(item) for item in value.items]) + b")"


_RENDER: dict[type, Callable[[Any], bytes]] = {
    Rendered: lambda value: value.data,
    int: lambda value: b"%d" % value,
    Atom: lambda value: value.text.encode("ascii"),
    IString: _render_istring,
    LiteralString: _render_literal,
    # RFC 3516 4.3: `literal8` for content holding NUL
    Literal8: lambda value: b"~" + _literal(value.data),
    ListOf: _render_list,
    Joined: lambda value: b"".join([render_value(item) for item in value.items]),
    Nil: lambda value: b"NIL",
}
"""How each kind of value renders, looked up by its exact type (one dictionary
lookup per value, not a chain of isinstance tests). `bool`, a subclass of
`int`, is not in it: `render_value` refuses it."""


def render_value(value: Value) -> bytes:
    """Render one data value."""
    render = _RENDER.get(type(value))
    if render is None:
        if isinstance(value, bool):
            raise TypeError("booleans are not IMAP values")
        for kind, known in _RENDER.items():  # a subclass of one of the kinds
            if isinstance(value, kind):
                return known(value)
        return b"NIL"
    return render(value)


_TEXT_BREAKS = str.maketrans("\r\n\x00", "   ")


def clean_text(text: str) -> bytes:
    """Human-readable text: one line, no CR/LF/NUL (RFC 3501 `text`)."""
    # RFC 3501 9 (`text`): TEXT-CHAR excludes CR and LF; NUL is never sent.
    return text.translate(_TEXT_BREAKS).encode("utf-8", "replace") or b"-"


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """`[NAME args]` (RFC 3501 7.1, RFC 5530)."""

    name: str
    args: tuple[Value, ...] = ()

    def render(self) -> bytes:
        parts = [self.name.encode("ascii"), *(render_value(arg) for arg in self.args)]
        return b"[" + b" ".join(parts) + b"]"


def code(name: str, *args: Value) -> ResponseCode:
    """Shorthand for a response code."""
    return ResponseCode(name, args)


class Response(Protocol):
    """Anything the server can send: it renders itself, CRLF included."""

    def render(self) -> bytes: ...


Status: TypeAlias = TypingLiteral["OK", "NO", "BAD", "BYE", "PREAUTH"]


def _status_line(prefix: bytes, status: str, text: str, rcode: ResponseCode | None) -> bytes:
    parts = [prefix, status.encode("ascii")]
    if rcode is not None:
        parts.append(rcode.render())
    parts.append(clean_text(text))
    return b" ".join(parts) + b"\r\n"


@dataclass(frozen=True, slots=True)
class Tagged:
    """The tagged completion of a command (RFC 3501 7.1)."""

    tag: str
    status: TypingLiteral["OK", "NO", "BAD"]
    text: str
    code: ResponseCode | None = None

    def render(self) -> bytes:
        return _status_line(self.tag.encode("ascii"), self.status, self.text, self.code)


@dataclass(frozen=True, slots=True)
class UntaggedStatus:
    """`* OK|NO|BAD|BYE|PREAUTH [code] text` (RFC 3501 7.1)."""

    status: Status
    text: str
    code: ResponseCode | None = None

    def render(self) -> bytes:
        return _status_line(b"*", self.status, self.text, self.code)


@dataclass(frozen=True, slots=True)
class UntaggedData:
    """`* [number] KEYWORD values...` (CAPABILITY, LIST, SEARCH, EXISTS...)."""

    keyword: str
    values: tuple[Value, ...] = ()
    number: int | None = None

    def render(self) -> bytes:
        parts = [b"*"]
        if self.number is not None:
            parts.append(b"%d" % self.number)
        parts.append(self.keyword.encode("ascii"))
        parts.extend(render_value(value) for value in self.values)
        return b" ".join(parts) + b"\r\n"


@dataclass(frozen=True, slots=True)
class FetchData:
    """`* msn FETCH (NAME value ...)` (RFC 3501 7.4.2)."""

    msn: int
    items: tuple[tuple[str, Value], ...]

    def render(self) -> bytes:
        body = b" ".join([_item_name(name) + render_value(v) for name, v in self.items])
        return b"* %d FETCH (" % self.msn + body + b")\r\n"


_ITEM_NAMES: dict[str, bytes] = {}
_ITEM_NAMES_KEPT = 256


def _item_name(name: str) -> bytes:
    """A FETCH item's name and the space after it; the first `_ITEM_NAMES_KEPT` distinct
    short names (those clients repeat: FLAGS, UID, ENVELOPE...) encoded once per process."""
    known = _ITEM_NAMES.get(name)
    if known is None:
        known = name.encode("ascii") + b" "
        if len(name) <= 64 and len(_ITEM_NAMES) < _ITEM_NAMES_KEPT:
            _ITEM_NAMES[name] = known
    return known


@dataclass(frozen=True, slots=True)
class Continuation:
    """`+ text` (RFC 3501 7.5); an empty text renders `+ ` as SASL wants."""

    text: str = ""

    def render(self) -> bytes:
        text = clean_text(self.text) if self.text else b""
        return b"+ " + text + b"\r\n"  # RFC 4959 3: an empty SASL challenge is "+ " CRLF


def exists(count: int) -> UntaggedData:
    """`* n EXISTS`."""
    return UntaggedData("EXISTS", number=count)


def recent(count: int) -> UntaggedData:
    """`* n RECENT`."""
    return UntaggedData("RECENT", number=count)


def expunge(msn: int) -> UntaggedData:
    """`* n EXPUNGE`."""
    return UntaggedData("EXPUNGE", number=msn)


def bye(text: str) -> UntaggedStatus:
    """`* BYE text`."""
    return UntaggedStatus("BYE", text)
