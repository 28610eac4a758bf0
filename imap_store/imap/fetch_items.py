"""Values of FETCH items for one message.

Owns: `item_value(attribute, row, message)`: FLAGS, UID, RFC822.SIZE,
INTERNALDATE, MODSEQ from the index row; ENVELOPE, BODY, BODYSTRUCTURE,
RFC822[.HEADER|.TEXT] and BODY[section]<partial> from the decrypted message;
and the INTERNALDATE format.

Invariants: bodies are always sent as literals and cut from the original
bytes; a partial beyond the end is an empty string; a missing section is NIL;
month names never depend on the process locale.

Ref: RFC 3501 6.4.5 (partials, sections), 7.4.2 (FETCH response items),
9 (`date-time`); RFC 7162 3.1.4.1 (MODSEQ).
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from .backend import MessageInfo
from .bodystructure import body_structure
from .envelope import envelope_value
from .fetch_spec import FetchAttribute, Partial
from .mime_parts import MimePart, parse_message, section_bytes
from .response import NIL, IString, ListOf, LiteralString, Value
from .search_keys import MONTHS
from .view import flags_value


def format_internaldate(value: dt.datetime) -> str:
    """`date-time`: "dd-Mon-yyyy hh:mm:ss +zzzz" with a space-padded day."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    month = MONTHS[value.month - 1].capitalize()
    return f"{value.day:2d}-{month}-{value.year:04d} {value:%H:%M:%S %z}"


class LoadedMessage:
    """A decrypted message and its lazily parsed MIME tree."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @cached_property
    def root(self) -> MimePart:
        """The parsed top-level entity."""
        return parse_message(self.raw)


def _cut(data: bytes | None, partial: Partial | None) -> Value:
    if data is None:
        return NIL
    if partial is not None:
        data = data[partial.origin : partial.origin + partial.count]
    return LiteralString(data)


def _row_value(attribute: FetchAttribute, row: MessageInfo) -> Value:
    name = attribute.name
    if name == "FLAGS":
        return flags_value(row.flags)
    if name == "UID":
        return row.uid
    if name == "RFC822.SIZE":
        return row.size
    if name == "INTERNALDATE":
        return IString(format_internaldate(row.internaldate).encode("ascii"))
    return ListOf((row.modseq,))


def _message_value(attribute: FetchAttribute, message: LoadedMessage) -> Value:
    name, root = attribute.name, message.root
    if attribute.section is not None:
        return _cut(section_bytes(root, attribute.section), attribute.partial)
    if name == "ENVELOPE":
        return envelope_value(root.header)
    if name in ("BODY", "BODYSTRUCTURE"):
        return body_structure(root, extensible=name == "BODYSTRUCTURE")
    if name == "RFC822.HEADER":
        return LiteralString(root.header)
    return LiteralString(root.body if name == "RFC822.TEXT" else message.raw)


def item_value(
    attribute: FetchAttribute, row: MessageInfo, message: LoadedMessage | None
) -> Value:
    """The value of one FETCH item (`message` is None for row-only items)."""
    if not attribute.needs_message:
        return _row_value(attribute, row)
    if message is None:
        return NIL
    return _message_value(attribute, message)
