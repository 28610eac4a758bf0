"""The ENVELOPE fetch item, rendered from the stored `EnvelopeMeta`.

Owns: `envelope_value(meta)`: the RFC 3501 `envelope` value. The fields were
computed once at delivery (`message.meta`), so this module
only lays them out.

Invariants: absent fields and empty address lists are NIL; an address is
`(name adl mailbox host)` with group markers `(NIL NIL "name" NIL)` and
`(NIL NIL NIL NIL)`; 8-bit octets survive (sent as literals); a CR or LF
becomes a space and a NUL U+FFFD (`header_nstring`: a literal never holds NUL).

Ref: RFC 3501 7.4.2 (ENVELOPE), 9 (`envelope`, `address`).
"""

from __future__ import annotations

from message.meta import AddressList, EnvelopeMeta

from .response import NIL, ListOf, Nil, Value, header_nstring


def _address_list(addresses: AddressList) -> ListOf | Nil:
    if not addresses:  # RFC 3501 7.4.2: an absent or empty address list is NIL
        return NIL
    return ListOf(tuple(ListOf(tuple(header_nstring(item) for item in a)) for a in addresses))


def envelope_value(env: EnvelopeMeta) -> ListOf:
    """ENVELOPE of a message (or of a message/rfc822 part's message)."""
    # RFC 3501 7.4.2: date, subject, from, sender, reply-to, to, cc, bcc,
    # in-reply-to, message-id, in this order.
    lists = (env.from_, env.sender, env.reply_to, env.to, env.cc, env.bcc)
    items: list[Value] = [header_nstring(env.date), header_nstring(env.subject)]
    items += [_address_list(addresses) for addresses in lists]
    items += [header_nstring(env.in_reply_to), header_nstring(env.message_id)]
    return ListOf(tuple(items))
