"""The ENVELOPE fetch item, computed from a message header.

Owns: `envelope_value(header)`: date, subject, from, sender, reply-to, to,
cc, bcc, in-reply-to and message-id, as RFC 3501 7.4.2 lays them out.

Invariants: strings are the raw, unfolded header values (no RFC 2047
decoding); the first occurrence of a field is used even when a message has
several (two Sender fields do not break anything); Sender and Reply-To
default to From when absent or empty; an empty address list is NIL; group
syntax is `(NIL NIL "name" NIL)` ... `(NIL NIL NIL NIL)`; 8-bit bytes survive
(sent as literals).

Ref: RFC 3501 7.4.2 (ENVELOPE), 9 (`envelope`, `address`).
"""

from __future__ import annotations

from .address_list import GroupEnd, GroupStart, Mailbox, parse_addresses
from .mime_parts import field_value, header_fields
from .response import NIL, ListOf, Nil, Value, nstring

_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")


def _first_values(header: bytes) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    for name, raw in header_fields(header):
        values.setdefault(name, field_value(raw))
    return values


def _address(item: Mailbox | GroupStart | GroupEnd) -> ListOf:
    if isinstance(item, GroupStart):
        return ListOf((NIL, NIL, nstring(item.name), NIL))
    if isinstance(item, GroupEnd):
        return ListOf((NIL, NIL, NIL, NIL))
    parts = (item.name, item.route, item.local, item.domain or "")
    return ListOf(tuple(nstring(part) for part in parts))


def _address_list(value: bytes | None) -> ListOf | Nil:
    if value is None:
        return NIL
    items = parse_addresses(value.decode("utf-8", "surrogateescape"))
    return ListOf(tuple(_address(item) for item in items)) if items else NIL


def envelope_value(header: bytes) -> ListOf:
    """ENVELOPE for a message (or an encapsulated message) header."""
    values = _first_values(header)
    lists = {name: _address_list(values.get(name)) for name in _ADDRESS_FIELDS}
    for name in ("sender", "reply-to"):
        if lists[name] is NIL:
            lists[name] = lists["from"]
    items: list[Value] = [nstring(values.get("date")), nstring(values.get("subject"))]
    items += [lists[name] for name in _ADDRESS_FIELDS]
    items += [nstring(values.get("in-reply-to")), nstring(values.get("message-id"))]
    return ListOf(tuple(items))
