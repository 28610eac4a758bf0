"""Byte-exact MIME structure of a message.

Owns: `MimePart` (header bytes, body bytes, children, encapsulated message,
its Content-Type), `parse_message`, `nesting_depth`, `multipart_closed` and
`unclosed_part`. Header sections are read by `message.headers` (the one
header parser; `split_header`, `header_fields` and `field_value` are
re-exported here for the IMAP engine). The IMAP engine
cuts BODY[section] octets from this tree and `message_meta` computes ENVELOPE
and BODYSTRUCTURE from it.

Invariants: parts keep the original octets, never re-serialised; multipart
nesting is bounded (`MAX_DEPTH`, deeper parts are leaves) so a hostile
message cannot exhaust the stack; a part's body is a range of the message's
octets, copied only when `body` is read (parsing never copies a body), so the
memory of a parse does not grow with the nesting depth; nothing here raises
on malformed input; a search through a body is made of calls over at most
`WINDOW` octets each (`find_in`, `rfind_in`), and a body is copied out in
slices joined without the GIL (`message.octets`), so no single call holds the GIL
for a whole large attachment; the parts' cached values take no lock
(`cached_property`), so the event loop never waits on a worker thread that
parses a large message.
The content type is that of the first Content-Type field, lower-cased; a part
without one has its default type (text/plain, message/rfc822 in a
multipart/digest); a value that is not `type/subtype` reads as text/plain.

Ref: RFC 2045 5.1, 5.2 (Content-Type, its default), RFC 2046 5.1.1
(boundaries: the CRLF before a delimiter belongs to the delimiter), 5.1.5
(digest default), RFC 5322 2.2.3 (folding).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from .headers import (
    HeaderField,
    field_value,
    first_text,
    first_value,
    header_end,
    header_fields,
    split_header,
)
from .mime_params import header_params
from .octets import octets

MAX_DEPTH = 32
__all__ = ["MAX_DEPTH", "MimePart", "field_value", "header_fields", "message_depth",
           "multipart_closed", "nesting_depth", "parse_message", "parse_part",
           "split_header", "unclosed_part"]


T = TypeVar("T")


class cached_property(Generic[T]):  # noqa: N801 (named as the functools descriptor it replaces)
    """`functools.cached_property` without its lock (Python 3.11 takes, on each first
    read, one lock per property, shared by every instance): the value is computed on
    first read and kept in the instance's `__dict__`, which later reads find first. Two
    threads reading the same part at once may both compute it; the values are equal
    (the part is immutable)."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached_property[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | cached_property[T]:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


def _content_type(value: str | None, default: str) -> tuple[str, str]:
    """(type, subtype) of a Content-Type value (RFC 2045 5.1, 5.2)."""
    if value is None:
        kind = default
    else:
        kind = header_params(value)[0].lower()
        if kind.count("/") != 1:
            kind = "text/plain"  # RFC 2045 5.2: an unrecognised value is text/plain
    main, _, sub = kind.partition("/")
    return main.strip(), sub.strip()


@dataclass(frozen=True)
class MimePart:
    """One entity: its header, its body (`source[start:end]`), and its structure.

    Built by hand, `MimePart(header, body)` is a part whose body is all of `body`.
    """

    header: bytes
    source: bytes
    depth: int = 0
    default_type: str = "text/plain"
    children: tuple[MimePart, ...] = field(default=(), compare=False)
    start: int = 0
    end: int | None = None
    """Where the body ends in `source` (None: at its end)."""

    @property
    def _stop(self) -> int:
        return len(self.source) if self.end is None else self.end

    @cached_property
    def body(self) -> bytes:
        """The body octets (copied out of the message when first read, `octets`)."""
        if self.start == 0 and self.end is None:
            return self.source
        return octets(self.source, self.start, self._stop)

    @property
    def body_range(self) -> tuple[bytes, int, int]:
        """(source, start, stop): the body as `source[start:stop]` (nothing copied)."""
        return self.source, self.start, self._stop

    @property
    def body_size(self) -> int:
        """Octets in the body (nothing copied)."""
        return self._stop - self.start

    def body_lines(self) -> int:
        """Lines in the body, a last line without LF included (nothing copied)."""
        stop = self._stop
        if stop <= self.start:
            return 0
        lines = self.source.count(b"\n", self.start, stop)
        return lines + (self.source[stop - 1] != 0x0A)

    @cached_property
    def fields(self) -> list[HeaderField]:
        """The header fields, in order (`message.headers`)."""
        return header_fields(self.header)

    def header_text(self, name: str) -> str | None:
        """The first field called `name` (lower-case), unfolded, spaces collapsed."""
        return first_text(self.fields, name)

    @cached_property
    def _content_type_value(self) -> str | None:
        """The first Content-Type value, unfolded (RFC 5322 2.2.3: a folded value keeps its
        white space); 8-bit octets kept as surrogates."""
        value = first_value(self.fields, "content-type")
        return None if value is None else value.decode("utf-8", "surrogateescape")

    @cached_property
    def content_type(self) -> tuple[str, str]:
        """(type, subtype), lower-case, defaults applied (RFC 2045 5.2)."""
        return _content_type(self._content_type_value, self.default_type)

    @property
    def maintype(self) -> str:
        """The type of the part (`text`, `multipart`, ...)."""
        return self.content_type[0]

    @property
    def subtype(self) -> str:
        """The subtype of the part (`plain`, `mixed`, ...)."""
        return self.content_type[1]

    @property
    def mime_type(self) -> str:
        """`type/subtype`."""
        return "/".join(self.content_type)

    @property
    def raw(self) -> bytes:
        """Header and body as received (the message itself for a parsed top level)."""
        head = self.start - len(self.header)
        if head >= 0 and self.source.startswith(self.header, head):
            if head == 0 and self.end is None:
                return self.source
            return self.source[head : self._stop]
        return self.header + self.body

    def content_param(self, name: str) -> str | None:
        """A Content-Type parameter (`NAME` upper-case), unfolded and unquoted (RFC 2045 5.1)."""
        value = self._content_type_value
        if value is None:
            return None
        return dict(header_params(value)[1]).get(name) or None

    @cached_property
    def boundary(self) -> str | None:
        """The Content-Type boundary (RFC 2046 5.1.1)."""
        return self.content_param("BOUNDARY")

    @property
    def is_multipart(self) -> bool:
        """True for a multipart entity with a boundary (it has children)."""
        return self.maintype == "multipart" and self.boundary is not None

    @cached_property
    def encapsulated(self) -> MimePart | None:
        """The message inside a message/rfc822 part."""
        if self.mime_type != "message/rfc822" or self.depth >= MAX_DEPTH:
            return None
        return parse_part(self.source, self.depth + 1, start=self.start, end=self._stop)


WINDOW = 1 << 18
"""Octets one search call covers: a search through a 25 MB body is made of
calls of at most this size, so that a worker thread parsing a large message
hands the GIL back to the event loop between them."""

_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\Z)")  # `\Z` matches at `stop`, the range's end


def find_in(data: bytes, needle: bytes, start: int, stop: int) -> int:
    """`data.find(needle, start, stop)`, searched `WINDOW` octets at a time."""
    for pos in range(start, stop, WINDOW):
        at = data.find(needle, pos, min(stop, pos + WINDOW + len(needle) - 1))
        if at >= 0:
            return at
    return -1


def rfind_in(data: bytes, needle: bytes, start: int, stop: int) -> int:
    """`data.rfind(needle, start, stop)`, searched `WINDOW` octets at a time from the end."""
    end = stop
    while end > start:
        pos = max(start, end - WINDOW)
        at = data.rfind(needle, pos, min(stop, end + len(needle) - 1))
        if at >= 0:
            return at
        end = pos
    return -1


def _delimiters(data: bytes, start: int, stop: int,
                mark: bytes) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closes) of each delimiter line of the multipart body `data[start:stop]`.

    RFC 2046 5.1.1: the CRLF before a delimiter belongs to it; the first
    delimiter may open the body without one; trailing blanks are allowed.
    """
    pos = start
    if data.startswith(b"--" + mark, start, stop):
        first = _TAIL.match(data, start + 2 + len(mark), stop)
        if first is not None:
            yield start, first.end(), first.group(1) is not None
            pos = first.end()
    needle = b"\r\n--" + mark
    while (at := find_in(data, needle, pos, stop)) >= 0:
        tail = _TAIL.match(data, at + len(needle), stop)
        if tail is None:
            pos = at + 1
            continue
        yield at, tail.end(), tail.group(1) is not None
        pos = tail.end()


def _split_multipart(data: bytes, start: int, stop: int, boundary: str) -> list[tuple[int, int]]:
    """The (start, end) of each body part of the multipart body `data[start:stop]`."""
    spans: list[tuple[int, int]] = []
    begin: int | None = None
    for at, end, closes in _delimiters(data, start, stop,
                                       boundary.encode("utf-8", "surrogateescape")):
        if begin is not None:
            spans.append((begin, at))
        if closes:
            break
        begin = end
    return spans


def multipart_closed(part: MimePart) -> bool:
    """True when a multipart body ends with its close delimiter `--boundary--` (RFC 2046 5.1.1)."""
    if part.boundary is None:
        return False
    close = b"--" + part.boundary.encode("utf-8", "surrogateescape") + b"--"
    body = part.source
    if body.startswith(close, part.start):
        return True
    return rfind_in(body, b"\r\n" + close, part.start, part._stop) >= 0  # it ends the body


def unclosed_part(part: MimePart) -> MimePart | None:
    """The body part after the last delimiter of a multipart never closed, else None.

    RFC 2046 5.1.1 requires the close delimiter; without it `parse_part` keeps
    no part after the last delimiter, while mail readers show one.
    """
    if part.boundary is None or multipart_closed(part) or part.depth >= MAX_DEPTH:
        return None
    mark = b"--" + part.boundary.encode("utf-8", "surrogateescape")
    data, stop = part.source, part._stop
    at = rfind_in(data, b"\r\n" + mark, part.start, stop)
    if at >= 0:
        at += 2
    elif data.startswith(mark, part.start):
        at = part.start
    else:
        return None
    line_end = data.find(b"\r\n", at, stop)
    begin = stop if line_end < 0 else line_end + 2
    child_type = "message/rfc822" if part.subtype == "digest" else "text/plain"
    return parse_part(data, part.depth + 1, child_type, start=begin, end=stop)


def parse_part(data: bytes, depth: int = 0, default_type: str = "text/plain", *,
               start: int = 0, end: int | None = None) -> MimePart:
    """Parse the entity `data[start:end]` and, within the depth bound, its children."""
    stop = len(data) if end is None else end
    at = header_end(data, start, stop)
    part = MimePart(data[start:at], data, depth, default_type, (), at, stop)
    boundary = part.boundary
    if not part.is_multipart or boundary is None or depth >= MAX_DEPTH:
        return part
    child_type = "message/rfc822" if part.subtype == "digest" else "text/plain"
    children = tuple(parse_part(data, depth + 1, child_type, start=s, end=e)
                     for s, e in _split_multipart(data, at, stop, boundary))
    return MimePart(part.header, data, depth, default_type, children, at, stop)


def parse_message(data: bytes) -> MimePart:
    """The top-level message."""
    return parse_part(data)


def _is_container(part: MimePart) -> bool:
    return part.is_multipart or part.mime_type == "message/rfc822"


def nesting_depth(root: MimePart) -> int:
    """How many multipart and message/rfc822 levels nest in `root` (0 for a single part).

    Exact up to `MAX_DEPTH`; `MAX_DEPTH + 1` means deeper than the tree represents
    (a container at the depth bound). Walked without recursion.
    """
    deepest = 0
    stack = [root]
    while stack:
        part = stack.pop()
        deepest = max(deepest, part.depth + 1 if _is_container(part) else part.depth)
        stack.extend(part.children)
        inner = part.encapsulated
        if inner is not None:
            stack.append(inner)
    return deepest


def message_depth(data: bytes) -> int:
    """`nesting_depth` of a whole message."""
    return nesting_depth(parse_message(data))
