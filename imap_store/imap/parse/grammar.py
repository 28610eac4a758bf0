"""Argument grammar of each command, as a table from name to reader.

Owns: one small reader per argument shape and the tables `GRAMMAR` and
`UID_GRAMMAR` that `parser.parse_command` dispatches on (the APPEND and
STATUS readers live in `grammar_append`, the QUOTA ones in `grammar_quota`,
shared terms in `grammar_terms`).

Invariants: mailbox names are decoded from modified UTF-7 (invalid -> BAD)
and `INBOX` is case-insensitive; `\\Recent` and unknown system flags cannot be
stored; LOGIN credentials must be UTF-8; SEARCH charsets other than US-ASCII
and UTF-8 are refused with `NO [BADCHARSET]` by the command, not here.

Ref: RFC 3501 9 (`login`, `authenticate`, `list`, `select`, `fetch`, `store`,
`search`, `mailbox`, `create`, `delete`, `rename`, `subscribe`,
`unsubscribe`, `copy`), RFC 4959 (SASL-IR), RFC 2971 (ID), RFC 5161 (ENABLE),
RFC 4315 (UID EXPUNGE), RFC 6851 (MOVE, UID MOVE).
"""

from __future__ import annotations

from collections.abc import Callable

from imap_store.imap.errors import ParseError

from .command import (
    NO_ARGS,
    AuthenticateArgs,
    CommandArgs,
    CopyArgs,
    EnableArgs,
    FetchArgs,
    IdArgs,
    ListArgs,
    LoginArgs,
    MailboxArgs,
    RenameArgs,
    SearchArgs,
    SequenceArgs,
    StoreArgs,
    StoreMode,
)
from .cursor import Cursor
from .fetch_spec import parse_fetch_attributes
from .grammar_append import append, status
from .grammar_quota import getquota, getquotaroot, setquota
from .grammar_terms import decode_mailbox, flag_list
from .search_keys import parse_search
from .sequence import parse_sequence_set

ArgReader = Callable[[Cursor], CommandArgs]
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
CHARSETS = {"US-ASCII": "ascii", "UTF-8": "utf-8"}


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("Invalid UTF-8") from exc


def no_args(cursor: Cursor) -> CommandArgs:
    """Commands without arguments."""
    return NO_ARGS


def login(cursor: Cursor) -> CommandArgs:
    """LOGIN userid password."""
    cursor.sp()
    user = _utf8(cursor.astring())
    cursor.sp()
    return LoginArgs(user, _utf8(cursor.astring()))


def authenticate(cursor: Cursor) -> CommandArgs:
    """AUTHENTICATE mechanism [SP initial-response]."""
    cursor.sp()
    mechanism = cursor.keyword()
    if not cursor.maybe(b" "):
        return AuthenticateArgs(mechanism)
    response = cursor.take_while(_BASE64)  # RFC 4959 7: initial-response = base64 / "="
    if not response:
        raise ParseError("Invalid initial response")
    return AuthenticateArgs(mechanism, response)


def mailbox(cursor: Cursor) -> CommandArgs:
    """SELECT/EXAMINE mailbox."""
    cursor.sp()
    return MailboxArgs(decode_mailbox(cursor.astring()))


def list_args(cursor: Cursor) -> CommandArgs:
    """LIST/LSUB reference pattern."""
    cursor.sp()
    reference = cursor.astring()
    cursor.sp()
    pattern = cursor.list_mailbox()
    # RFC 3501 6.3.8: reference and pattern are kept as written (no INBOX folding).
    return ListArgs(decode_mailbox(reference, canonical=False),
                    decode_mailbox(pattern, canonical=False))


def fetch(cursor: Cursor) -> CommandArgs:
    """FETCH sequence-set attributes."""
    cursor.sp()
    sequence = parse_sequence_set(cursor)
    cursor.sp()
    return FetchArgs(sequence, parse_fetch_attributes(cursor))


def store(cursor: Cursor) -> CommandArgs:
    """STORE sequence-set [+|-]FLAGS[.SILENT] flags."""
    cursor.sp()
    sequence = parse_sequence_set(cursor)
    cursor.sp()
    # RFC 3501 6.4.6: FLAGS replaces, +FLAGS adds, -FLAGS removes.
    mode: StoreMode = "add" if cursor.maybe(b"+") else "remove" if cursor.maybe(b"-") else "replace"
    cursor.expect(b"FLAGS")
    silent = cursor.maybe(b".SILENT")
    cursor.sp()
    return StoreArgs(sequence, mode, silent, flag_list(cursor))


def search(cursor: Cursor) -> CommandArgs:
    """SEARCH [CHARSET astring] search-key *(SP search-key)."""
    cursor.sp()
    charset: str | None = None
    if cursor.maybe(b"CHARSET "):
        charset = cursor.astring().decode("ascii", "replace").upper()
        cursor.sp()
    # RFC 3501 6.4.4: an unknown charset is refused by the command (NO [BADCHARSET]).
    return SearchArgs(charset, parse_search(cursor, CHARSETS.get(charset or "UTF-8", "ascii")))


def sequence_only(cursor: Cursor) -> CommandArgs:
    """UID EXPUNGE sequence-set."""
    cursor.sp()
    return SequenceArgs(parse_sequence_set(cursor))


def enable(cursor: Cursor) -> CommandArgs:
    """ENABLE 1*(SP capability)."""
    names = []
    while cursor.maybe(b" "):
        names.append(cursor.keyword())
    if not names:
        raise ParseError("ENABLE needs at least one capability")
    return EnableArgs(tuple(names))


def id_args(cursor: Cursor) -> CommandArgs:
    """ID ("field" "value" ...) / ID NIL."""
    cursor.sp()
    if cursor.maybe(b"NIL"):
        return IdArgs(None)
    cursor.open_paren()
    pairs: list[tuple[str, str | None]] = []
    while not cursor.close_paren():
        if pairs:
            cursor.sp()
        field = cursor.string().decode("utf-8", "replace")
        cursor.sp()
        value = cursor.nstring()
        pairs.append((field, None if value is None else value.decode("utf-8", "replace")))
        if len(pairs) > 30:  # RFC 2971 3.3: at most 30 field-value pairs
            raise ParseError("Too many ID fields")
    return IdArgs(tuple(pairs))


def rename(cursor: Cursor) -> CommandArgs:
    """RENAME existing-mailbox new-mailbox."""
    cursor.sp()
    old = decode_mailbox(cursor.astring())
    cursor.sp()
    return RenameArgs(old, decode_mailbox(cursor.astring()))


def copy(cursor: Cursor) -> CommandArgs:
    """COPY / MOVE sequence-set mailbox."""
    cursor.sp()
    sequence = parse_sequence_set(cursor)
    cursor.sp()
    return CopyArgs(sequence, decode_mailbox(cursor.astring()))


GRAMMAR: dict[str, ArgReader] = {
    **dict.fromkeys(
        ("CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "UNSELECT",
         "EXPUNGE", "IDLE", "NAMESPACE"),
        no_args,
    ),
    "LOGIN": login,
    "AUTHENTICATE": authenticate,
    "SELECT": mailbox,
    "EXAMINE": mailbox,
    "LIST": list_args,
    "LSUB": list_args,
    "FETCH": fetch,
    "STORE": store,
    "SEARCH": search,
    "ENABLE": enable,
    "ID": id_args,
    **dict.fromkeys(("CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE"), mailbox),
    "RENAME": rename,
    "STATUS": status,
    "APPEND": append,
    "COPY": copy,
    "MOVE": copy,
    "GETQUOTA": getquota,
    "GETQUOTAROOT": getquotaroot,
    "SETQUOTA": setquota,
}

UID_GRAMMAR: dict[str, ArgReader] = {
    "FETCH": fetch,
    "STORE": store,
    "SEARCH": search,
    "EXPUNGE": sequence_only,
    "COPY": copy,
    "MOVE": copy,
}
