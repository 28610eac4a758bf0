"""Argument grammar of the QUOTA commands: GETQUOTA, GETQUOTAROOT, SETQUOTA.

Invariants: a quota root name is an astring read as UTF-8 (invalid -> BAD);
GETQUOTAROOT names a mailbox (modified UTF-7, `INBOX` case-insensitive);
SETQUOTA's list holds at most `MAX_RESOURCES` resource-limit pairs, each a
resource name (atom) and a number64, or the command is BAD (it is parsed so
that it can be refused with NO, never run).

Ref: RFC 9208 (formal syntax: `getquota`, `getquotaroot`, `setquota`,
`setquota-list`, `setquota-resource`, `quota-root-name`).
"""

from __future__ import annotations

from imap_store.imap.errors import ParseError

from .command import CommandArgs, MailboxArgs, QuotaRootArgs, SetQuotaArgs
from .cursor import Cursor
from .grammar_terms import decode_mailbox

MAX_RESOURCES = 16
NUMBER64 = 2**63 - 1


def _root(cursor: Cursor) -> str:
    cursor.sp()
    try:
        return cursor.astring().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("Invalid UTF-8") from exc


def getquota(cursor: Cursor) -> CommandArgs:
    """GETQUOTA quota-root-name."""
    return QuotaRootArgs(_root(cursor))


def getquotaroot(cursor: Cursor) -> CommandArgs:
    """GETQUOTAROOT mailbox."""
    cursor.sp()
    return MailboxArgs(decode_mailbox(cursor.astring()))


def setquota(cursor: Cursor) -> CommandArgs:
    """SETQUOTA quota-root-name SP "(" [resource SP limit *(SP resource SP limit)] ")"."""
    root = _root(cursor)
    cursor.sp()
    cursor.open_paren()
    limits: list[tuple[str, int]] = []
    while not cursor.close_paren():
        if limits:
            cursor.sp()
        name = cursor.atom("resource name").upper()
        cursor.sp()
        limits.append((name, cursor.digits(NUMBER64)))
        if len(limits) > MAX_RESOURCES:
            raise ParseError("Too many quota resources")
    return SetQuotaArgs(root, tuple(limits))
