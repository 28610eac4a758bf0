"""Decoded text of a message, for SEARCH on headers and bodies.

Owns: `MessageText`, a lazy view of one decrypted message that answers
"does header X contain s", "does the body contain s" and "what is its Date".
Header fields are read by `message.headers` (the one header parser), parts
by `message.mime_tree` (the depth-bounded MIME tree), transfer encodings
removed by `message.transfer_encoding`; RFC 2047 encoded-words in a value are
decoded with `email.header`.

Invariants:
- nothing here is logged or kept beyond the command; nothing raises on any
  input: undecodable content degrades to replacement characters;
- comparisons are case-insensitive substring matches; a header value is
  unfolded (RFC 5322 2.2.3), its 8-bit octets read as UTF-8;
- address fields also match their parsed form (`name <local@domain>`,
  comments and spaces inside addresses removed), so `FROM user@domain.org`
  finds `<user (c)@ (c) domain.org>`;
- the body text is the decoded text of every leaf part, in order, read with
  the part's charset (UTF-8 when it has none or Python does not know it); an
  encapsulated message/rfc822 is walked (its body, not its header, is body
  text); a multipart without parts (no delimiter, or past the tree's depth
  bound) is a leaf, so nesting depth never fails a search; a transfer
  encoding other than base64 and quoted-printable leaves the octets as they are.

Ref: RFC 3501 6.4.4 (substring, case-insensitive matching), RFC 2047
(encoded-words), RFC 2045 6 (transfer encodings), RFC 2231 4 (charset
parameter), RFC 5322 2.2.3, 3.3 (unfolding, Date).
"""

from __future__ import annotations

import datetime as dt
import email.errors
import email.header
import email.utils
import urllib.parse
from collections.abc import Iterator
from functools import cached_property

from .address_list import Mailbox, parse_addresses
from .headers import HeaderField, header_fields, split_header
from .mime_tree import MimePart, parse_message
from .transfer_encoding import decode_transfer

ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to"})


def _decode_header(value: str) -> str:
    """A header value with its RFC 2047 encoded-words decoded (as written if they cannot be)."""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (LookupError, ValueError, email.errors.MessageError):  # a charset Python refuses
        return value


def _value(field: HeaderField) -> str:
    """The unfolded value of `field` as text, encoded-words decoded."""
    return _decode_header(field.value.decode("utf-8", "replace"))


def _addresses(value: str) -> str:
    """An address header as `name <local@domain>, ...`, comments dropped."""
    items = [a for a in parse_addresses(value) if isinstance(a, Mailbox)]
    return ", ".join(f"{a.name or ''} <{a.local}@{a.domain or ''}>" for a in items)


def _leaves(root: MimePart) -> Iterator[MimePart]:
    """The leaf parts under `root` in order, walking encapsulated messages (no recursion)."""
    stack = [root]
    while stack:
        part = stack.pop()
        inner = part.encapsulated
        if inner is not None:
            stack.append(inner)
        elif part.children:
            stack.extend(reversed(part.children))
        else:
            yield part


def _charset(part: MimePart) -> str:
    """The part's charset (RFC 2231 `charset*` too), UTF-8 when it has none usable."""
    value = part.content_param("CHARSET")
    encoded = part.content_param("CHARSET*")
    if value is None and encoded is not None:  # RFC 2231 4: charset'language'value
        value = urllib.parse.unquote(encoded.split("'", 2)[-1], "ascii", "replace")
    return value if value and value.isascii() else "utf-8"


def _part_text(part: MimePart) -> str:
    """The text of one leaf: transfer encoding removed, read with its charset."""
    encoding = part.header_text("content-transfer-encoding") or ""
    data = decode_transfer(part.body, encoding)
    payload = part.body if data is None else data
    try:
        return str(payload, _charset(part), "replace")
    except (LookupError, ValueError):  # unknown or invalid name, a codec refusing "replace"
        return str(payload, "utf-8", "replace")


class MessageText:
    """Searchable text of one message."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    @cached_property
    def _fields(self) -> list[tuple[str, str]]:
        """(lower-case name, decoded value) of each top-level header field, in order."""
        fields = header_fields(split_header(self._raw)[0])
        return [(field.name, _value(field)) for field in fields]

    def header_contains(self, field: str, needle: str) -> bool:
        """True when a `field` header contains `needle` (empty: is present)."""
        name = field.lower()
        values = [value for key, value in self._fields if key == name]
        if name in ADDRESS_FIELDS:
            values += [_addresses(value) for value in values]
        wanted = needle.casefold()
        return any(wanted in value.casefold() for value in values)

    @cached_property
    def header_text(self) -> str:
        """All header fields, decoded, one per line."""
        return "\n".join(f"{name}: {value}" for name, value in self._fields)

    @cached_property
    def body_text(self) -> str:
        """The decoded text of every leaf part."""
        return "\n".join(_part_text(part) for part in _leaves(parse_message(self._raw)))

    def body_contains(self, needle: str) -> bool:
        """BODY s."""
        return needle.casefold() in self.body_text.casefold()

    def text_contains(self, needle: str) -> bool:
        """TEXT s: header or body."""
        wanted = needle.casefold()
        return wanted in self.header_text.casefold() or self.body_contains(needle)

    @cached_property
    def sent_date(self) -> dt.date | None:
        """The date of the first Date: field in its own zone, if it parses."""
        value = next((value for name, value in self._fields if name == "date"), None)
        if value is None:
            return None
        try:
            return email.utils.parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError):
            return None
