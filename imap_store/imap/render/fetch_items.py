"""Values of FETCH items for one message.

Owns: `LoadedMessage` (the decrypted message, or only its stored meta) and
`item_function(attribute)`, how an item's value is got for each message (chosen
once per command): FLAGS, UID, RFC822.SIZE,
INTERNALDATE, MODSEQ from the index row; ENVELOPE, BODY, BODYSTRUCTURE,
RFC822.HEADER and BODY[HEADER...] from the meta; RFC822[.TEXT],
BODY[section]<partial> and BINARY[...] from the decrypted message; and the
INTERNALDATE format. ENVELOPE, BODY and BODYSTRUCTURE are rendered once per meta
value and kept on it (`_kept`), INTERNALDATE once per distinct date
(`RENDERED_CACHE` entries, least recently used dropped): a client that lists a
mailbox again gets the same octets without their layout being redone; a
rendering depends on the value alone.

Invariants: bodies are always sent as literals and cut from the original
bytes, byte-exact even when they hold NUL: RFC 3501 9 leaves NUL out of a
literal, but changing octets would break RFC822.SIZE, partial fetches and
signatures (APPEND stores NUL-holding parts base64, `binary_append`; mail
received over SMTP is kept as it came; BINARY sends such data as
`literal8`); a partial beyond the end is an empty string; a missing section is NIL;
month names never depend on the process locale; when only the meta was
loaded, no item needing the message is ever asked for (the loader decides).

Ref: RFC 3501 6.4.5 (partials, sections), 7.4.2 (FETCH response items),
9 (`date-time`); RFC 3516 4.3 (BINARY, BINARY.SIZE); RFC 7162 3.1.4.1 (MODSEQ).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property, lru_cache

from imap_store.imap.backend import MessageInfo
from imap_store.imap.parse.fetch_spec import FetchAttribute, Partial
from imap_store.imap.parse.search_keys import MONTHS
from imap_store.imap.view import flags_value
from message.meta import EnvelopeMeta, MessageMeta, PartMeta, compute_meta
from message.mime_tree import split_header

from .binary_section import binary_bytes, binary_value
from .bodystructure import body_structure
from .envelope import envelope_value
from .mime_parts import (
    MimePart,
    header_section,
    parse_message,
    section_bytes,
    top_section_bytes,
)
from .response import NIL, IString, ListOf, LiteralString, Rendered, Value, render_value

RENDERED_CACHE = 4096


def format_internaldate(value: dt.datetime) -> str:
    """`date-time`: "dd-Mon-yyyy hh:mm:ss +zzzz" with a space-padded day."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    month = MONTHS[value.month - 1].capitalize()  # English whatever the process locale
    # RFC 3501 9 (`date-time`): the day is space-padded, the zone numeric.
    return f"{value.day:2d}-{month}-{value.year:04d} {value:%H:%M:%S %z}"


@lru_cache(maxsize=RENDERED_CACHE)
def _internaldate(value: dt.datetime) -> Rendered:
    # RFC 3501 7.4.2: INTERNALDATE is a quoted `date-time`, rendered once per date.
    return Rendered(render_value(IString(format_internaldate(value).encode("ascii"))))


class LoadedMessage:
    """A decrypted message and its lazily parsed MIME tree, or only its meta."""

    def __init__(self, raw: bytes | None = None, meta: MessageMeta | None = None) -> None:
        self._raw = raw
        self._meta = meta

    @property
    def raw(self) -> bytes:
        """The whole message (only when it was loaded)."""
        if self._raw is None:
            raise LookupError("message content not loaded")
        return self._raw

    @cached_property
    def root(self) -> MimePart:
        """The parsed top-level entity (only what a part number or BINARY needs: the
        whole message, its text and its header are cut without it)."""
        return parse_message(self.raw)

    @property
    def text(self) -> bytes:
        """The body of the top level (RFC822.TEXT, BODY[TEXT])."""
        return split_header(self.raw)[1]

    @property
    def meta(self) -> MessageMeta:
        """Header, ENVELOPE and BODYSTRUCTURE (stored, else computed once)."""
        if self._meta is None:
            self._meta = compute_meta(self.raw)
        return self._meta


def _cut(data: bytes | None, partial: Partial | None) -> bytes | None:
    if data is None or partial is None:
        return data
    # RFC 3501 6.4.5: a partial beyond the end gives an empty string, never an error.
    return data[partial.origin : partial.origin + partial.count]


def _literal(data: bytes | None) -> Value:
    return NIL if data is None else LiteralString(data)


def _row_value(attribute: FetchAttribute, row: MessageInfo, flags: frozenset[str]) -> Value:
    name = attribute.name
    if name == "FLAGS":
        return flags_value(flags)
    if name == "UID":
        return row.uid
    if name == "RFC822.SIZE":
        return row.size
    if name == "INTERNALDATE":
        return _internaldate(row.internaldate)
    return ListOf((row.modseq,))  # RFC 7162 3.1.4.1: MODSEQ is a parenthesised number


def _meta_value(attribute: FetchAttribute, meta: MessageMeta) -> Value:
    name, section = attribute.name, attribute.section
    if section is not None:
        return _literal(_cut(header_section(meta.header, section), attribute.partial))
    if name == "ENVELOPE":
        return _envelope(meta.envelope)
    if name == "RFC822.HEADER":
        return LiteralString(meta.header)
    # RFC 3501 7.4.2: BODY is BODYSTRUCTURE without the extension data.
    return _structure(meta.structure, name == "BODYSTRUCTURE")


def _envelope(envelope: EnvelopeMeta) -> Rendered:
    return _kept(envelope, "_imap_envelope",
                 lambda: Rendered(render_value(envelope_value(envelope))))


def _structure(structure: PartMeta, extensible: bool) -> Rendered:
    return _kept(structure, "_imap_bodystructure" if extensible else "_imap_body",
                 lambda: Rendered(render_value(body_structure(structure,
                                                              extensible=extensible))))


def _kept(value: EnvelopeMeta | PartMeta, name: str, render: Callable[[], Rendered]) -> Rendered:
    """The rendering `name` of an immutable meta value, made on first use and kept on
    the value itself (outside its fields: equality and hash ignore it). A value lives
    as long as the meta that holds it (`meta_reader`'s cache), so a client that lists
    a folder again gets the same octets without their layout being redone, and a
    lookup costs no hash or comparison of the value's tree (imaptest's copies of one
    message have equal but distinct metas, each compared field by field by a cache
    keyed by value)."""
    known = value.__dict__.get(name)
    if known is None:
        known = render()
        object.__setattr__(value, name, known)
    return known


def _message_value(attribute: FetchAttribute, message: LoadedMessage) -> Value:
    name, section = attribute.name, attribute.section
    if section is None:  # RFC 3501 6.4.5: RFC822 is BODY[], RFC822.TEXT is BODY[TEXT]
        return LiteralString(message.text if name == "RFC822.TEXT" else message.raw)
    if name == "BODY":
        data = (top_section_bytes(message.raw, section) if not section.part
                else section_bytes(message.root, section))
        return _literal(_cut(data, attribute.partial))
    data = binary_bytes(message.root, section.part)
    if name == "BINARY.SIZE":  # RFC 3516 4.2: the size once decoded
        return NIL if data is None else len(data)
    return binary_value(_cut(data, attribute.partial))


ItemValue = Callable[[MessageInfo, frozenset[str], "LoadedMessage | None"], Value]


def item_function(attribute: FetchAttribute) -> ItemValue:
    """How one FETCH item gets its value, decided once per command (then called for
    each message; `message` is None for row-only items)."""
    if not (attribute.needs_meta or attribute.needs_message):
        return lambda row, flags, message: _row_value(attribute, row, flags)
    if attribute.needs_meta:
        return lambda row, flags, message: (
            NIL if message is None else _meta_value(attribute, message.meta))
    return lambda row, flags, message: (
        NIL if message is None else _message_value(attribute, message))
