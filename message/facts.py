"""Facts read from a message (its header section, its MIME nesting), for the SMTP gateway,
the policy and the audit trail.

Owns: `MessageFacts`, `AddressFacts`, `read_facts(content)` and `read_parsed(content)`
(the facts and the parsed tree, for a caller that walks the tree too). The header
section is read through `mime_tree.MimePart` and so `headers` (the one
header parser: the policy checks the same From field the recipient's IMAP
client will show). Kept: Message-ID and `X-MSS-NIL` (audit, R24,
statistics, R19), the content type and its `report-type`, the header fields
(name and unfolded text) for the X-MSS-* rule, the From and Sender fields
read once for the sender rules, and how deep the MIME structure nests
(`mime_tree.message_depth`, the gateway's bound on hostile nesting).

Invariants:
- From and Sender are read strictly (`mailboxes.strict_mailboxes`) and the
  result must equal the tolerant reading that ENVELOPE shows
  (`address_list.parse_addresses`); `AddressFacts.problem` says why a
  field cannot be trusted (absent, repeated, not UTF-8, ambiguous, read two
  ways), and then `mailboxes` is empty: anything unclear fails closed;
- a header section with a bare CR or LF (RFC 5322 2.2 allows them only as
  CRLF) has no trusted From or Sender: software that reads only CRLF as a
  line end would see other fields, or another end of the header section;
- a problem names the kind of defect, never a header value (R24).

Ref: RFC 5322 3.6.2 (From, Sender), 3.6.4 (Message-ID); RFC 2045 5
(Content-Type); RFC 6522 3 (report-type); RFC 6532 3.2 (UTF-8 in header
values); R19, R24.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .address_list import Mailbox, parse_addresses
from .headers import HeaderField, first_text, values_of
from .mailboxes import Ambiguous, strict_mailboxes
from .mime_tree import MimePart, nesting_depth, parse_message

# RFC 5322 2.2, 2.3: CR and LF occur only together, as CRLF (line ends, folding).
_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")


@dataclass(frozen=True)
class AddressFacts:
    """What the From (or Sender) fields of a message name, read once and strictly."""

    count: int
    """How many fields of that name the header section holds."""
    mailboxes: tuple[str, ...] = ()
    """The lower-cased addr-specs of the only field; () whenever `problem` is set."""
    problem: str | None = None
    """Why the fields cannot be trusted (no header value quoted); None when they can."""


@dataclass(frozen=True)
class MessageFacts:
    """The facts of one message's header section (no content beyond these)."""

    message_id: str
    mss_nil: str | None
    content_type: str
    headers: tuple[tuple[str, str], ...]
    mime_type: str
    report_type: str | None
    author: AddressFacts
    sender: AddressFacts
    nesting: int = 0
    """Multipart and message/rfc822 levels (`mime_tree.nesting_depth`; MAX_DEPTH + 1: deeper)."""


def _tolerant(text: str) -> tuple[str, ...]:
    """The addr-specs ENVELOPE shows for this value (`address_list`), lower-cased."""
    return tuple(f"{item.local}@{item.domain or ''}".lower()
                 for item in parse_addresses(text) if isinstance(item, Mailbox))


def address_facts(values: list[bytes], section_problem: str | None = None) -> AddressFacts:
    """The facts of every unfolded value of one address field (From or Sender)."""
    if len(values) != 1:  # RFC 5322 3.6: From and Sender occur at most once
        return AddressFacts(len(values), (), f"{len(values)} fields" if values else "no field")
    if section_problem is not None:
        return AddressFacts(1, (), section_problem)
    try:
        text = values[0].decode("utf-8")  # RFC 6532 3.2: UTF-8, only where text may be
        mailboxes = strict_mailboxes(text)
    except UnicodeDecodeError:
        return AddressFacts(1, (), "not UTF-8")
    except Ambiguous as exc:
        return AddressFacts(1, (), str(exc))
    if mailboxes != _tolerant(text):
        return AddressFacts(1, (), "read two ways")
    return AddressFacts(1, mailboxes)


def _first(fields: list[HeaderField], name: str, limit: int) -> str | None:
    value = first_text(fields, name)
    return None if value is None else value[:limit]


def read_facts(content: bytes) -> MessageFacts:
    """The facts of a message (its header section, and its MIME nesting; CPU-bound, no I/O)."""
    return facts_of(parse_message(content))


def read_parsed(content: bytes) -> tuple[MessageFacts, MimePart]:
    """`read_facts(content)` and the message's tree (`parse_message`), parsed once."""
    root = parse_message(content)
    return facts_of(root), root


def facts_of(root: MimePart) -> MessageFacts:
    """The facts of the message `root` (`parse_message`): its header section is the
    message's, as `split_header` cuts it, and its tree gives the nesting."""
    fields = root.fields
    report_type = root.content_param("REPORT-TYPE")
    bare = "bare CR or LF in the header section" if _BARE_LINE_END.search(root.header) else None
    return MessageFacts(
        message_id=_first(fields, "message-id", 998) or "",
        mss_nil=_first(fields, "x-mss-nil", 64),
        content_type=(first_text(fields, "content-type") or "text/plain").lower(),
        headers=tuple((field.name, field.text) for field in fields),
        mime_type=root.mime_type,
        report_type=report_type.lower() if report_type else None,
        author=address_facts(values_of(fields, "from"), bare),
        sender=address_facts(values_of(fields, "sender"), bare),
        nesting=nesting_depth(root))
