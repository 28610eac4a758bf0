"""What the IMAP engine needs from the store, as structural Protocols.

Owns: `ImapBackend` (store + authenticate + audit) and the read-only shapes of
folders, message rows, the mailbox store and its change notifier, mirroring
`imap_store.store.mailbox` exactly in what the engine uses, so the store's
concrete classes satisfy them without importing the engine (the dependency
goes imap -> store only).

Invariants: folder names are names inside one BAL, never paths; `\\Recent` is
never stored (`claim_recent` moves the per-folder floor); `fetch_message` and
`fetch_messages` return decrypted RFC 5322 bytes with CRLF (messages gone are
absent), `fetch_meta` only the stored
header, ENVELOPE and BODYSTRUCTURE; folder operations raise the store's
`FolderError` with a neutral reason; a message whose stored blob or data key
fails to authenticate raises the store's `DecryptionError`; value types (`NewMessage`,
`AppendResult`, `CopyResult`, `FolderStatus`, `MessageMeta`) are the store's.
Authentication is the callable's job: it audits success and failure and applies
the brute-force rules (docs/architecture.md "Defaults"); the engine only asks.

Ref: docs/architecture.md "imap_store", R10, R24.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from imap_store.store.crypto import DecryptionError
from imap_store.store.folder_ops import FolderError, FolderStatus
from imap_store.store.interfaces import AuditFor, AuditSink, Authenticate
from imap_store.store.message_ops import AppendResult, CopyResult, MessagesGone, NewMessage
from imap_store.store.own_write import OwnWrite
from message.meta import MessageMeta

__all__ = ["AppendResult", "Authenticate", "CopyResult", "DecryptionError", "FolderError",
           "FolderStatus", "ImapBackend", "MailboxStore", "MessageMeta", "MessagesGone",
           "NewMessage", "OwnWrite"]

FlagMode = Literal["add", "remove", "replace"]


class FolderInfo(Protocol):
    """A folder of a BAL (`imap_store.store.mailbox.Folder`)."""

    @property
    def id(self) -> int: ...
    @property
    def bal_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def uidvalidity(self) -> int: ...
    @property
    def uidnext(self) -> int: ...
    @property
    def special_use(self) -> str | None: ...
    @property
    def subscribed(self) -> bool: ...
    @property
    def highestmodseq(self) -> int: ...


class MessageInfo(Protocol):
    """The index row of one message (`imap_store.store.mailbox.MessageRow`)."""

    @property
    def uid(self) -> int: ...
    @property
    def flags(self) -> frozenset[str]: ...
    @property
    def size(self) -> int: ...
    @property
    def internaldate(self) -> dt.datetime: ...
    @property
    def modseq(self) -> int: ...


class QuotaInfo(Protocol):
    """A BAL's quota usage and limits (`imap_store.store.quota.QuotaState`; 0: none)."""

    @property
    def used_bytes(self) -> int: ...
    @property
    def used_messages(self) -> int: ...
    @property
    def limit_bytes(self) -> int: ...
    @property
    def limit_messages(self) -> int: ...


class FolderIndexInfo(Protocol):
    """A folder's UIDs and flags (`imap_store.store.folder_index.FolderIndex`)."""

    @property
    def uids(self) -> Sequence[int]: ...
    @property
    def flags(self) -> Sequence[frozenset[str]]: ...

    def position(self, uid: int) -> int | None: ...


class ChangeNotifier(Protocol):
    """Versions that move whenever a BAL's mailboxes change."""

    def version(self, bal_id: int) -> int: ...

    async def wait(self, bal_id: int, since: int, timeout: float) -> int: ...

    def watch(self, bal_id: int, folder_id: int, marker: tuple[int, int]) -> None: ...

    def unwatch(self, folder_id: int) -> None: ...


class MailboxStore(Protocol):
    """The store operations the engine uses."""

    @property
    def notifier(self) -> ChangeNotifier: ...

    async def list_folders(self, bal_id: int) -> Sequence[FolderInfo]: ...

    async def get_folder(self, bal_id: int, name: str) -> FolderInfo | None: ...

    async def snapshot(
        self, bal_id: int, folder_id: int
    ) -> tuple[FolderInfo, Sequence[MessageInfo]]: ...

    async def index(self, bal_id: int, folder_id: int) -> tuple[FolderInfo, FolderIndexInfo]: ...

    async def details(
        self, bal_id: int, folder_id: int, uids: Sequence[int]
    ) -> Mapping[int, MessageInfo]: ...

    async def changes_since(
        self, bal_id: int, folder_id: int, modseq: int
    ) -> tuple[FolderInfo, Sequence[MessageInfo], int]: ...

    async def uids(self, bal_id: int, folder_id: int) -> Sequence[int]: ...

    async def marker(self, bal_id: int, folder_id: int) -> tuple[int, int]:
        """The folder's `(uidnext, highestmodseq)` as committed (any process)."""
        ...

    async def fetch_message(self, bal_id: int, folder_id: int, uid: int) -> bytes | None: ...

    async def fetch_messages(
        self, bal_id: int, folder_id: int, uids: Sequence[int], *, octets: int | None = None
    ) -> Mapping[int, bytes]:
        """`octets`: the messages' stored sizes when the caller knows them."""
        ...

    async def set_flags(
        self,
        bal_id: int,
        folder_id: int,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: FlagMode,
        audit: AuditFor | None = None,
        *,
        own: OwnWrite | None = None,
    ) -> Sequence[MessageInfo]:
        """`own`: filled in with what the write did (`OwnWrite`), when given."""
        ...

    async def expunge(
        self, bal_id: int, folder_id: int, uids: Sequence[int] | None = None,
        audit: AuditFor | None = None, *, own: OwnWrite | None = None,
    ) -> Sequence[int]: ...

    async def fetch_meta(
        self, bal_id: int, folder_id: int, uids: Sequence[int]
    ) -> Mapping[int, MessageMeta]: ...

    async def claim_recent(self, bal_id: int, folder_id: int, up_to: int, *,
                           claim: bool) -> int: ...

    async def status(self, bal_id: int, name: str) -> FolderStatus: ...

    async def quota(self, bal_id: int) -> QuotaInfo: ...

    async def create_folder(self, bal_id: int, name: str) -> FolderInfo: ...

    async def delete_folder(self, bal_id: int, name: str) -> None: ...

    async def rename_folder(self, bal_id: int, old: str, new: str) -> None: ...

    async def subscribe(self, bal_id: int, name: str, subscribed: bool = True) -> None: ...

    async def subscriptions(self, bal_id: int) -> Sequence[str]: ...

    async def append(
        self, bal_id: int, name: str, messages: Sequence[NewMessage],
        now: dt.datetime | None = None, audit: AuditFor | None = None, *,
        claim_for: int | None = None, own: OwnWrite | None = None,
    ) -> AppendResult: ...

    async def copy(
        self, bal_id: int, folder_id: int, uids: Sequence[int], target: str, *,
        move: bool = False,
    ) -> CopyResult: ...


class ImapBackend(Protocol):
    """Everything an IMAP listener is given by the composition root."""

    @property
    def store(self) -> MailboxStore: ...

    @property
    def authenticate(self) -> Authenticate: ...

    @property
    def audit(self) -> AuditSink: ...
