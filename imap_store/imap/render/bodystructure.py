"""BODY and BODYSTRUCTURE, rendered from the stored `PartMeta` tree.

Owns: `body_structure(part, extensible)`: the RFC 3501 `body` value of a
message or part; when `extensible`, the extension data (MD5, disposition,
language, location; multipart parameters). Sizes, line counts and
parameters were measured once at delivery (`message.meta`).

Invariants: a language list of one tag is sent as a string, of several as a
list (`body-fld-lang`); message/rfc822 carries the inner ENVELOPE, BODY and
lines; text parts carry lines; multiparts are `1*body` side by side; every
string is header text (`header_nstring`: CR and LF made spaces, NUL U+FFFD).

Ref: RFC 3501 7.4.2 (BODYSTRUCTURE), 9 (`body`, `body-type-1part`,
`body-type-mpart`, `body-type-msg`, `body-fields`, `body-ext-*`).
"""

from __future__ import annotations

from message.meta import Params, PartMeta

from .envelope import envelope_value
from .response import NIL, Joined, ListOf, Nil, Value, header_nstring


def _params(pairs: Params) -> ListOf | Nil:
    flat: list[Value] = []
    for name, value in pairs:
        flat += [header_nstring(name), header_nstring(value)]
    return ListOf(tuple(flat)) if flat else NIL  # RFC 3501 9 `body-fld-param`: NIL if none


def _disposition(part: PartMeta) -> ListOf | Nil:
    if part.disposition is None:
        return NIL
    kind, params = part.disposition
    return ListOf((header_nstring(kind), _params(params)))


def _language(part: PartMeta) -> Value:
    tags = part.language
    if not tags:
        return NIL
    # RFC 3501 9 (`body-fld-lang`): one tag as a string, several as a list.
    if len(tags) == 1:
        return header_nstring(tags[0])
    return ListOf(tuple(header_nstring(t) for t in tags))


def _tail(part: PartMeta) -> list[Value]:
    return [_disposition(part), _language(part), header_nstring(part.location)]


def _single(part: PartMeta, extensible: bool) -> ListOf:
    items: list[Value] = [
        header_nstring(part.type), header_nstring(part.subtype), _params(part.params),
        header_nstring(part.id), header_nstring(part.description),
        header_nstring(part.encoding), part.size]
    if part.envelope is not None and part.message is not None:
        # RFC 3501 7.4.2: message/rfc822 adds the inner ENVELOPE, BODY and line count.
        items += [envelope_value(part.envelope), body_structure(part.message, extensible)]
    if part.lines is not None:  # RFC 3501 7.4.2: text parts carry their size in lines
        items.append(part.lines)
    if extensible:  # RFC 3501 7.4.2: MD5, disposition, language, location
        items += [header_nstring(part.md5), *_tail(part)]
    return ListOf(tuple(items))


def _multi(part: PartMeta, extensible: bool) -> ListOf:
    # RFC 3501 9 (`body-type-mpart`): `1*body` with no space between the parts.
    bodies = Joined(tuple(body_structure(child, extensible) for child in part.children))
    items: list[Value] = [bodies, header_nstring(part.subtype)]
    if extensible:
        items += [_params(part.params), *_tail(part)]
    return ListOf(tuple(items))


def body_structure(part: PartMeta, extensible: bool = True) -> ListOf:
    """BODYSTRUCTURE (extensible) or BODY (not) of a message or part."""
    return _multi(part, extensible) if part.is_multipart else _single(part, extensible)
