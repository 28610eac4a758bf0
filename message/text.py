"""Decoded text of a message, for SEARCH on headers and bodies.

Owns: `MessageText`, a lazy view of one decrypted message that answers
"does header X contain s", "does the body contain s" and "what is its Date",
with RFC 2047 encoded-words, transfer encodings and charsets decoded by the
standard library, and comparisons done case-insensitively.

Invariants: nothing here is logged or kept beyond the command; undecodable
content degrades to replacement characters instead of failing the search;
address fields also match their parsed form (`name <local@domain>`, comments
and spaces inside addresses removed), so `FROM user@domain.org` finds
`<user (c)@ (c) domain.org>`.

Ref: RFC 3501 6.4.4 (substring, case-insensitive matching), RFC 2047.
"""

from __future__ import annotations

import datetime as dt
import email
import email.errors
import email.header
import email.message
import email.policy
import email.utils
from functools import cached_property

from .address_list import Mailbox, parse_addresses

ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to"})


def _decode_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
        return value


def _addresses(value: str) -> str:
    """An address header as `name <local@domain>, ...`, comments dropped."""
    items = [a for a in parse_addresses(value) if isinstance(a, Mailbox)]
    return ", ".join(f"{a.name or ''} <{a.local}@{a.domain or ''}>" for a in items)


def _part_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


class MessageText:
    """Searchable text of one message."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    @cached_property
    def _message(self) -> email.message.Message:
        return email.message_from_bytes(self._raw, policy=email.policy.compat32)

    def header_contains(self, field: str, needle: str) -> bool:
        """True when a `field` header contains `needle` (empty: is present)."""
        values = [_decode_header(str(v)) for v in self._message.get_all(field) or []]
        if field.lower() in ADDRESS_FIELDS:
            values += [_addresses(value) for value in values]
        wanted = needle.casefold()
        return any(wanted in value.casefold() for value in values)

    @cached_property
    def header_text(self) -> str:
        """All header fields, decoded, one per line."""
        items = self._message.items()
        return "\n".join(f"{name}: {_decode_header(str(value))}" for name, value in items)

    @cached_property
    def body_text(self) -> str:
        """The decoded text of every non-multipart part."""
        parts = [p for p in self._message.walk() if not p.is_multipart()]
        return "\n".join(_part_text(part) for part in parts)

    def body_contains(self, needle: str) -> bool:
        """BODY s."""
        return needle.casefold() in self.body_text.casefold()

    def text_contains(self, needle: str) -> bool:
        """TEXT s: header or body."""
        wanted = needle.casefold()
        return wanted in self.header_text.casefold() or self.body_contains(needle)

    @cached_property
    def sent_date(self) -> dt.date | None:
        """The date of the Date: header in its own zone, if it parses."""
        value = self._message.get("Date")
        if value is None:
            return None
        try:
            return email.utils.parsedate_to_datetime(str(value)).date()
        except (TypeError, ValueError, IndexError):
            return None
