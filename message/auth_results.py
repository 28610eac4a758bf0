"""`Authentication-Results` fields written in our name by someone else: removed on entry.

Owns: `authserv_id` (the authentication service identifier an
`Authentication-Results` field names) and `without_our_results` (a message
without the fields that name ours).

A mail client trusts the `Authentication-Results` field that names its own
server; a sender who writes one in our name (`dkim=pass` for a signature that
never verified) must not reach it. So every field that names our authserv-id
and arrives from outside is deleted before ours is prepended (RFC 8601 5: an
MTA deletes the fields that claim, by their authserv-id, to have been added
within its trust boundary but did not come from a trusted MTA of it). Mail
from another operator and mail from a submission client both come from
outside: nothing but our own code writes our authserv-id.

Invariants:
- a field is removed when its name is `Authentication-Results` (any case, white
  space before the colon allowed, RFC 5322 4.5), it is in the message's own
  header section, and its authserv-id equals ours ignoring case (RFC 8601 2.5);
  it goes whole, its continuation lines included (RFC 5322 2.2.3);
- fields naming another authserv-id, `ARC-Authentication-Results` fields (RFC
  8617 keeps its own chain), the body and the header sections of enclosed
  messages are untouched; every octet but those of the removed fields is kept,
  in order (the message is never parsed and written again), and the message
  itself is returned when nothing is removed;
- the authserv-id is read as RFC 8601 2.2 writes it: after optional comments
  and white space, a token (up to white space, `;`, `(` or another tspecial)
  or a quoted-string (quoted-pairs undone), then an optional version number,
  which does not matter here (every version naming us is removed; RFC 8601 5
  removes a version we do not support too);
- DKIM: our verification (`smtp_gateway.dkim`) reads the message as
  received, before the removal, so removing a field never changes our own
  result. A sender's signature that covers an `Authentication-Results` field
  (`h=` names it) fails for any verifier after us once the field is gone:
  RFC 8601 5 accepts that (removal may invalidate signatures covering such
  fields), and the outcome of our check is stated in the field we prepend.
- nothing here raises on any input.

Ref: RFC 8601 2.2 (syntax), 2.5 (authserv-id), 5 (removing existing fields);
RFC 2045 5.1 (token, quoted-string); RFC 5322 2.2.3, 3.2.2 (comments), 4.5.
"""

from __future__ import annotations

from .headers import HeaderField, header_end, without_fields

NAME = "authentication-results"
_NAME_OCTETS = NAME.encode()
_TSPECIALS = frozenset(b'()<>@,;:\\"/[]?=')  # RFC 2045 5.1
_WSP = frozenset(b" \t\r\n")


def _skip_cfws(value: bytes, at: int) -> int:
    """The index after the white space and comments (nested, quoted-pairs) at `at`
    (RFC 5322 3.2.2); an unclosed comment runs to the end."""
    depth = 0
    while at < len(value):
        c = value[at]
        if depth and c == 0x5C:  # quoted-pair inside a comment
            at += 2
            continue
        if c == 0x28:  # (
            depth += 1
        elif c == 0x29 and depth:  # )
            depth -= 1
        elif not depth and c not in _WSP:
            return at
        at += 1
    return len(value)


def authserv_id(value: bytes) -> str | None:
    """The authserv-id of an unfolded `Authentication-Results` value (RFC 8601 2.2,
    2.5), None when it has none; an unclosed quoted-string runs to the end."""
    at = _skip_cfws(value, 0)
    if at >= len(value):
        return None
    if value[at] == 0x22:  # quoted-string
        out = bytearray()
        at += 1
        while at < len(value) and value[at] != 0x22:
            if value[at] == 0x5C and at + 1 < len(value):
                at += 1
            out.append(value[at])
            at += 1
        found = bytes(out)
    else:
        end = at
        while end < len(value) and value[end] > 0x20 and value[end] != 0x7F \
                and value[end] not in _TSPECIALS:
            end += 1
        found = value[at:end]
    return found.decode("utf-8", "replace") or None


def without_our_results(message: bytes, ours: str) -> bytes:
    """`message` without the `Authentication-Results` fields of its header section whose
    authserv-id is `ours` (ignoring case), every other octet kept (RFC 8601 5)."""
    wanted = ours.lower()
    if not wanted or _NAME_OCTETS not in message[:header_end(message)].lower():
        return message  # no field of that name (its name is these octets, in any case)

    def forged(field: HeaderField) -> bool:
        if field.name != NAME:
            return False
        found = authserv_id(field.value)
        return found is not None and found.lower() == wanted

    return without_fields(message, forged)
