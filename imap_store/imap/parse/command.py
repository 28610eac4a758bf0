"""Parsed commands as frozen values.

Owns: `Command` (tag, name, UID prefix, typed arguments) and one argument
type per command shape. Mailbox names here are already decoded from modified
UTF-7; strings are bytes unless the grammar makes them text.

Ref: RFC 3501 6 (commands) and 9 (formal syntax); RFC 2177 (IDLE),
RFC 2971 (ID), RFC 5161 (ENABLE), RFC 4315 (UID EXPUNGE), RFC 3502
(MULTIAPPEND), RFC 6851 (MOVE).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .fetch_spec import FetchAttribute
from .search_keys import SearchKey
from .sequence import SequenceSet


@dataclass(frozen=True)
class NoArgs:
    """Commands without arguments (CAPABILITY, NOOP, LOGOUT, IDLE, ...)."""


@dataclass(frozen=True)
class LoginArgs:
    """LOGIN userid password (RFC 3501 6.2.3)."""

    username: str
    password: str


@dataclass(frozen=True)
class AuthenticateArgs:
    """AUTHENTICATE mechanism [initial-response] (RFC 3501 6.2.2, RFC 4959)."""

    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True)
class MailboxArgs:
    """Commands naming one mailbox (SELECT, EXAMINE, ...)."""

    mailbox: str


@dataclass(frozen=True)
class ListArgs:
    """LIST/LSUB reference pattern (RFC 3501 6.3.8)."""

    reference: str
    pattern: str


@dataclass(frozen=True)
class FetchArgs:
    """FETCH sequence-set attributes (RFC 3501 6.4.5)."""

    sequence: SequenceSet
    attributes: tuple[FetchAttribute, ...]


StoreMode: TypeAlias = Literal["add", "remove", "replace"]


@dataclass(frozen=True)
class StoreArgs:
    """STORE sequence-set [+|-]FLAGS[.SILENT] flags (RFC 3501 6.4.6)."""

    sequence: SequenceSet
    mode: StoreMode
    silent: bool
    flags: frozenset[str]


@dataclass(frozen=True)
class SearchArgs:
    """SEARCH [CHARSET c] keys (RFC 3501 6.4.4)."""

    charset: str | None
    criteria: SearchKey


@dataclass(frozen=True)
class SequenceArgs:
    """Commands taking only a sequence set (UID EXPUNGE)."""

    sequence: SequenceSet


@dataclass(frozen=True)
class RenameArgs:
    """RENAME existing-mailbox new-mailbox (RFC 3501 6.3.5)."""

    old: str
    new: str


@dataclass(frozen=True)
class StatusArgs:
    """STATUS mailbox (item ...) (RFC 3501 6.3.10)."""

    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class AppendMessage:
    """One message of APPEND: [flag-list] [date-time] literal (RFC 3502)."""

    flags: frozenset[str]
    internaldate: dt.datetime | None
    data: bytes


@dataclass(frozen=True)
class AppendArgs:
    """APPEND mailbox message... (RFC 3501 6.3.11, RFC 3502 MULTIAPPEND)."""

    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True)
class CopyArgs:
    """COPY / MOVE sequence-set mailbox (RFC 3501 6.4.7, RFC 6851)."""

    sequence: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class EnableArgs:
    """ENABLE capability... (RFC 5161)."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class QuotaRootArgs:
    """GETQUOTA quota-root (RFC 9208)."""

    root: str


@dataclass(frozen=True)
class SetQuotaArgs:
    """SETQUOTA quota-root (resource limit ...) (RFC 9208)."""

    root: str
    limits: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class IdArgs:
    """ID (field value ...) / ID NIL (RFC 2971)."""

    parameters: tuple[tuple[str, str | None], ...] | None


CommandArgs: TypeAlias = (
    NoArgs
    | LoginArgs
    | AuthenticateArgs
    | MailboxArgs
    | ListArgs
    | FetchArgs
    | StoreArgs
    | SearchArgs
    | SequenceArgs
    | EnableArgs
    | IdArgs
    | RenameArgs
    | StatusArgs
    | AppendArgs
    | CopyArgs
    | QuotaRootArgs
    | SetQuotaArgs
)

NO_ARGS = NoArgs()


@dataclass(frozen=True)
class Command:
    """One complete client command."""

    tag: str
    name: str
    args: CommandArgs = NO_ARGS
    uid: bool = False

    @property
    def key(self) -> str:
        """Dispatch key: `FETCH` or `UID FETCH`."""
        return f"UID {self.name}" if self.uid else self.name
