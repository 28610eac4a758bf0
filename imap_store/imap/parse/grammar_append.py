"""Argument grammar of APPEND (with MULTIAPPEND and literal8) and STATUS.

Owns: `append` (mailbox, then one or more messages, each with an optional
flag list, an optional date-time and a literal), `status` (mailbox and a
parenthesised list of status items) and the `date-time` reader.

Invariants: a date-time must match RFC 3501 `date-time` exactly (space-padded
or two-digit day, English month, four-digit year, numeric zone) or the
command is BAD; a message may be a `literal8` (`~{n}`, RFC 3516 4.4) and only
then may hold NUL; `\\Recent` cannot be given; unknown STATUS items are BAD.

Ref: RFC 3501 6.3.10, 6.3.11, 9 (`append`, `date-time`, `status`,
`status-att`); RFC 3502 6 (`append-message`); RFC 3516 4.4; RFC 9208
(`status-att` DELETED, DELETED-STORAGE).
"""

from __future__ import annotations

import datetime as dt
import re

from imap_store.imap.errors import ParseError

from .command import AppendArgs, AppendMessage, CommandArgs, StatusArgs
from .cursor import Cursor
from .grammar_terms import decode_mailbox, flag_list
from .search_keys import MONTHS

STATUS_ITEMS = frozenset({"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
                          "DELETED", "DELETED-STORAGE"})  # RFC 9208 (QUOTA=RES-*)
# RFC 3501 9 (`date-time`): space-padded or two-digit day, English month, numeric zone.
_DATE_TIME = re.compile(
    rb"( \d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")


def date_time(cursor: Cursor) -> dt.datetime:
    """`date-time`: DQUOTE day "-" month "-" year SP time SP zone DQUOTE."""
    match = _DATE_TIME.fullmatch(cursor.quoted())
    month = match.group(2).decode("ascii").upper() if match else ""
    if match is None or month not in MONTHS:
        raise ParseError("Invalid date-time")
    day, year, hh, mm, ss, zh, zm = (int(match.group(i)) for i in (1, 3, 4, 5, 6, 8, 9))
    sign = -1 if match.group(7) == b"-" else 1
    try:
        zone = dt.timezone(sign * dt.timedelta(hours=zh, minutes=zm))
        return dt.datetime(year, MONTHS.index(month) + 1, day, hh, mm, ss, tzinfo=zone)
    except ValueError as exc:
        raise ParseError("Invalid date-time") from exc


def _message(cursor: Cursor) -> AppendMessage:
    flags: frozenset[str] = frozenset()
    when = None
    if cursor.peek_is(b"("):
        flags = flag_list(cursor)
        cursor.sp()
    if cursor.peek_is(b'"'):
        when = date_time(cursor)
        cursor.sp()
    if not cursor.peek_is(b"{~"):
        raise ParseError("Expected message literal")
    # RFC 3516 4.4: a `literal8` ("~{n}") message may hold NUL.
    return AppendMessage(flags, when, cursor.literal(binary=cursor.peek_is(b"~")))


def append(cursor: Cursor) -> CommandArgs:
    """APPEND mailbox 1*(SP [flag-list SP] [date-time SP] literal)."""
    cursor.sp()
    mailbox = decode_mailbox(cursor.astring())
    messages = []
    while cursor.maybe(b" "):  # RFC 3502 6: MULTIAPPEND, one or more messages
        messages.append(_message(cursor))
    if not messages:
        raise ParseError("APPEND needs a message")
    return AppendArgs(mailbox, tuple(messages))


def status(cursor: Cursor) -> CommandArgs:
    """STATUS mailbox SP "(" status-att *(SP status-att) ")"."""
    cursor.sp()
    mailbox = decode_mailbox(cursor.astring())
    cursor.sp()
    cursor.open_paren()
    items = [cursor.keyword()]
    while not cursor.close_paren():
        cursor.sp()
        items.append(cursor.keyword())
    if not STATUS_ITEMS.issuperset(items):
        raise ParseError("Unknown STATUS item")
    return StatusArgs(mailbox, tuple(dict.fromkeys(items)))
