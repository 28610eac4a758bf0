"""ENVELOPE, BODYSTRUCTURE and header of a message, computed once and stored.

Owns: `MessageMeta` (the top-level header octets, an `EnvelopeMeta` and a
`PartMeta` tree) and `compute_meta(raw)`, run at delivery and APPEND (there from
the parse that checked the nesting, `depth_and_meta`); the
IMAP engine renders FETCH ENVELOPE, BODY, BODYSTRUCTURE, RFC822.HEADER and
BODY[HEADER...] from it without decrypting the whole message. The byte format
is `meta_codec`'s; the blob is encrypted like the message (`mailbox`).

Invariants (RFC 3501 7.4.2 exactly):
- texts are the raw, unfolded header values, no RFC 2047 decoding; 8-bit
  octets survive (decoded with surrogateescape, encoded back the same way);
- the first occurrence of a field is used (two Sender fields break nothing);
  Sender and Reply-To default to From; an empty address list is None (NIL);
  group syntax is (None, None, name, None) ... (None, None, None, None);
- sizes are octets of the transfer-encoded body, lines are counted for text
  and message/rfc822 parts; a text part without parameters gets CHARSET
  US-ASCII (RFC 2045 5.2); message/rfc822 parts carry the inner envelope and
  structure; a multipart without parts is given one empty text/plain part so
  `1*body` holds; computing never raises on malformed input.

Ref: RFC 3501 7.4.2 (ENVELOPE, BODYSTRUCTURE), 9 (`envelope`, `address`,
`body-type-1part`, `body-type-mpart`, `body-fields`, `body-ext-*`);
RFC 2045, RFC 2183 (Content-Disposition), RFC 3066 (Content-Language).
"""

from __future__ import annotations

from dataclasses import dataclass

from .address_list import GroupEnd, GroupStart, Mailbox, parse_addresses
from .headers import HeaderField
from .mime_params import header_params
from .mime_tree import MimePart, field_value, header_fields, nesting_depth, parse_message

Address = tuple[str | None, str | None, str | None, str | None]
AddressList = tuple[Address, ...] | None
Params = tuple[tuple[str, str], ...]
_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")


@dataclass(frozen=True)
class EnvelopeMeta:
    """The ten ENVELOPE fields, in RFC 3501 order."""

    date: str | None
    subject: str | None
    from_: AddressList
    sender: AddressList
    reply_to: AddressList
    to: AddressList
    cc: AddressList
    bcc: AddressList
    in_reply_to: str | None
    message_id: str | None



@dataclass(frozen=True)
class PartMeta:
    """One body part (or a multipart) as BODYSTRUCTURE describes it."""

    type: str
    subtype: str
    params: Params = ()
    id: str | None = None
    description: str | None = None
    encoding: str = "7BIT"
    size: int = 0
    lines: int | None = None
    md5: str | None = None
    disposition: tuple[str, Params] | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None
    envelope: EnvelopeMeta | None = None
    message: PartMeta | None = None
    children: tuple[PartMeta, ...] = ()

    @property
    def is_multipart(self) -> bool:
        """True for a multipart (rendered as `body-type-mpart`)."""
        return bool(self.children)


@dataclass(frozen=True)
class MessageMeta:
    """What FETCH needs of a message besides its body sections."""

    header: bytes
    envelope: EnvelopeMeta
    structure: PartMeta


def text(raw: bytes) -> str:
    """Header octets as text that encodes back to the same octets."""
    return raw.decode("utf-8", "surrogateescape")


def _first_values(fields: list[HeaderField]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, raw in fields:  # the first occurrence of a field is used
        if name not in values:
            values[name] = text(field_value(raw))
    return values


def _address(item: Mailbox | GroupStart | GroupEnd) -> Address:
    if isinstance(item, GroupStart):  # RFC 3501 7.4.2: group start, NIL host
        return (None, None, item.name, None)
    if isinstance(item, GroupEnd):  # RFC 3501 7.4.2: group end, all NIL
        return (None, None, None, None)
    return (item.name, item.route, item.local, item.domain or "")


def _address_list(value: str | None) -> AddressList:
    if value is None:
        return None
    items = parse_addresses(value)
    return tuple(_address(item) for item in items) if items else None


def envelope_of(header: bytes) -> EnvelopeMeta:
    """ENVELOPE of a message (or an encapsulated message) header."""
    return _envelope(header_fields(header))


def _envelope(fields: list[HeaderField]) -> EnvelopeMeta:
    """ENVELOPE of the header fields of a message (`MimePart.fields`, parsed once)."""
    values = _first_values(fields)
    lists = {name: _address_list(values.get(name)) for name in _ADDRESS_FIELDS}
    for name in ("sender", "reply-to"):  # RFC 3501 7.4.2: both default to From
        if lists[name] is None:
            lists[name] = lists["from"]
    return EnvelopeMeta(
        values.get("date"), values.get("subject"), lists["from"], lists["sender"],
        lists["reply-to"], lists["to"], lists["cc"], lists["bcc"],
        values.get("in-reply-to"), values.get("message-id"))


def _header(part: MimePart, name: str) -> str | None:
    for field in part.fields:  # parsed once per part (`MimePart.fields` is cached)
        if field.name == name:
            return " ".join(text(field.value).split())
    return None


def _content_params(part: MimePart) -> Params:
    value = _header(part, "content-type")
    params = tuple(header_params(value)[1]) if value else ()
    if not params and part.maintype == "text":  # RFC 2045 5.2: the default charset
        return (("CHARSET", "US-ASCII"),)
    return params


def _disposition(part: MimePart) -> tuple[str, Params] | None:
    value = _header(part, "content-disposition")
    if value is None:
        return None
    kind, params = header_params(value)
    return (kind.upper() or "ATTACHMENT", tuple(params))  # RFC 2183 2.8: no kind = attachment


def _language(part: MimePart) -> tuple[str, ...] | None:
    value = _header(part, "content-language")
    if value is None:
        return None
    tags = tuple(tag.strip() for tag in value.split(",") if tag.strip())  # RFC 3282 2
    return tags or None


def _single(part: MimePart) -> PartMeta:
    inner = part.encapsulated
    counted = part.maintype == "text" or inner is not None
    return PartMeta(
        type=part.maintype.upper(), subtype=part.subtype.upper(),
        params=_content_params(part), id=_header(part, "content-id"),
        description=_header(part, "content-description"),
        encoding=(_header(part, "content-transfer-encoding") or "7BIT").upper(),  # RFC 2045 6.1
        # RFC 3501 7.4.2: size in octets of the encoded body; lines for text and message/rfc822
        # (a last line without CRLF still counts); measured without copying the body.
        size=part.body_size, lines=part.body_lines() if counted else None,
        md5=_header(part, "content-md5"), disposition=_disposition(part),
        language=_language(part), location=_header(part, "content-location"),
        envelope=_envelope(inner.fields) if inner is not None else None,
        message=structure_of(inner) if inner is not None else None)


def _multi(part: MimePart) -> PartMeta:
    children = tuple(structure_of(child) for child in part.children)
    if not children:  # RFC 3501 9: `body-type-mpart` needs `1*body`: one empty text part
        children = (structure_of(MimePart(b"\r\n", b"", part.depth + 1)),)
    return PartMeta(
        type="MULTIPART", subtype=part.subtype.upper(),
        params=_content_params(part), disposition=_disposition(part),
        language=_language(part), location=_header(part, "content-location"),
        children=children)


def structure_of(part: MimePart) -> PartMeta:
    """BODYSTRUCTURE of a message or part."""
    return _multi(part) if part.is_multipart else _single(part)


def compute_meta(raw: bytes) -> MessageMeta:
    """Parse a message once: its header, ENVELOPE and BODYSTRUCTURE."""
    return meta_of(parse_message(raw))


def meta_of(root: MimePart) -> MessageMeta:
    """`compute_meta` of a message already parsed (`parse_message`)."""
    return MessageMeta(root.header, _envelope(root.fields), structure_of(root))


def depth_and_meta(raw: bytes) -> tuple[int, MessageMeta]:
    """A message's nesting depth (`mime_tree.nesting_depth`) and its meta, from one
    parse: what APPEND checks and then stores."""
    root = parse_message(raw)
    return nesting_depth(root), meta_of(root)
