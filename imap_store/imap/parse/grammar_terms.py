"""Terms shared by several command grammars: mailbox names and flags.

Owns: `decode_mailbox` (wire name -> folder name) and `flag` / `flag_list`.

Invariants: mailbox names are decoded from modified UTF-7; 8-bit or control
octets are a syntax error (BAD); valid syntax that is not valid modified
UTF-7 (a bare `&`) becomes a name no folder can have, so the command gets NO
(the imaptest `atoms` script expects NO, as Dovecot answers); `INBOX` is
case-insensitive; `\\Recent` and unknown system flags cannot be given;
keywords are atoms, kept as written.

Ref: RFC 3501 5.1, 5.1.3 (mailbox names, modified UTF-7), 9 (`mailbox`,
`flag`, `flag-list`, `flag-keyword`).
"""

from __future__ import annotations

from imap_store.imap.errors import ParseError

from . import mutf7
from .cursor import Cursor

UNDECODABLE = "\x00"
"""Prefix of a name whose modified UTF-7 is invalid: the store refuses control
characters, so it names no folder (SELECT: NO [NONEXISTENT], CREATE: NO
[CANNOT], LIST: nothing), as Dovecot answers."""
SYSTEM_FLAGS = {
    name.lower(): name
    for name in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
}


def decode_mailbox(raw: bytes, *, canonical: bool = True) -> str:
    """Wire mailbox name -> folder name (RFC 3501 5.1, 5.1.3)."""
    # RFC 3501 5.1.3: mailbox names on the wire are 7-bit; no CTL either.
    if any(byte >= 0x80 or byte < 0x20 or byte == 0x7F for byte in raw):
        raise ParseError("Invalid mailbox name (8-bit or control character)")
    try:
        name = mutf7.decode(raw)
    except ValueError:
        return UNDECODABLE + raw.decode("ascii")
    return "INBOX" if canonical and name.upper() == "INBOX" else name  # RFC 3501 5.1


def flag(cursor: Cursor) -> str:
    """`flag`: a system flag (canonical case) or a keyword atom."""
    if cursor.maybe(b"\\"):
        name = SYSTEM_FLAGS.get("\\" + cursor.atom("flag").lower())
        if name is None:  # RFC 3501 2.3.2: \Recent and unknown system flags cannot be set
            raise ParseError("Invalid system flag")
        return name
    return cursor.atom("flag")


def flag_list(cursor: Cursor) -> frozenset[str]:
    """`flag-list` = "(" [flag *(SP flag)] ")", or bare flags for STORE."""
    if not cursor.peek_is(b"("):
        flags = [flag(cursor)]
        while cursor.maybe(b" "):
            flags.append(flag(cursor))
        return frozenset(flags)
    cursor.open_paren()
    flags = []
    while not cursor.close_paren():
        if flags:
            cursor.sp()
        flags.append(flag(cursor))
    return frozenset(flags)
