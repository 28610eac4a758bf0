"""BODY and BODYSTRUCTURE, computed from the byte-level MIME tree.

Owns: `body_structure(part, extensible)`: the RFC 3501 `body` value of a
message or part, with sizes and line counts measured on the original
(transfer-encoded) octets, and, when `extensible`, the extension data
(MD5, disposition, language, location; multipart parameters).

Invariants: type and subtype are upper-case strings; a text part without
parameters gets `("CHARSET" "US-ASCII")` (RFC 2045 5.2 default); a multipart
without any body part is given one empty text/plain part so the grammar's
`1*body` holds; message/rfc822 carries the inner ENVELOPE, BODY and lines.

Ref: RFC 3501 7.4.2 (BODYSTRUCTURE), 9 (`body`, `body-type-1part`,
`body-type-mpart`, `body-fields`, `body-ext-*`); RFC 2045, RFC 2183.
"""

from __future__ import annotations

import email.utils

from .envelope import envelope_value
from .mime_parts import MimePart
from .response import NIL, Joined, ListOf, Nil, Value, nstring


def _params(pairs: list[tuple[str, str]]) -> ListOf | Nil:
    flat: list[Value] = []
    for name, value in pairs:
        flat += [nstring(name.upper()), nstring(value)]
    return ListOf(tuple(flat)) if flat else NIL


def _param_pairs(part: MimePart, header: str) -> list[tuple[str, str]]:
    params = part.info.get_params(header=header, unquote=True) or []
    pairs = []
    for name, value in params[1:]:
        text = email.utils.collapse_rfc2231_value(value) if isinstance(value, tuple) else value
        pairs.append((name, str(text)))
    return pairs


def _header(part: MimePart, name: str) -> str | None:
    value = part.info.get(name)
    return None if value is None else " ".join(str(value).split())


def _lines(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def _fields(part: MimePart) -> list[Value]:
    pairs = _param_pairs(part, "content-type")
    if not pairs and part.info.get_content_maintype() == "text":
        pairs = [("CHARSET", "US-ASCII")]
    encoding = (_header(part, "content-transfer-encoding") or "7BIT").upper()
    return [_params(pairs), nstring(_header(part, "content-id")),
            nstring(_header(part, "content-description")), nstring(encoding), len(part.body)]


def _disposition(part: MimePart) -> ListOf | Nil:
    value = _header(part, "content-disposition")
    if value is None:
        return NIL
    kind = value.split(";", 1)[0].strip().upper()
    return ListOf((nstring(kind), _params(_param_pairs(part, "content-disposition"))))


def _tail(part: MimePart) -> list[Value]:
    return [_disposition(part), nstring(_header(part, "content-language")),
            nstring(_header(part, "content-location"))]


def _single(part: MimePart, extensible: bool) -> ListOf:
    info = part.info
    items: list[Value] = [nstring(info.get_content_maintype().upper()),
                          nstring(info.get_content_subtype().upper()), *_fields(part)]
    inner = part.encapsulated
    if inner is not None:
        items += [envelope_value(inner.header), body_structure(inner, extensible)]
    if info.get_content_maintype() == "text" or inner is not None:
        items.append(_lines(part.body))
    if extensible:
        items += [nstring(_header(part, "content-md5")), *_tail(part)]
    return ListOf(tuple(items))


def _multi(part: MimePart, extensible: bool) -> ListOf:
    children = part.children or (MimePart(b"\r\n", b"", part.depth + 1),)
    bodies = Joined(tuple(body_structure(child, extensible) for child in children))
    items: list[Value] = [bodies, nstring(part.info.get_content_subtype().upper())]
    if extensible:
        items += [_params(_param_pairs(part, "content-type")), *_tail(part)]
    return ListOf(tuple(items))


def body_structure(part: MimePart, extensible: bool = True) -> ListOf:
    """BODYSTRUCTURE (extensible) or BODY (not) of a message or part."""
    if part.info.get_content_maintype() == "multipart" and part.info.get_boundary():
        return _multi(part, extensible)
    return _single(part, extensible)
