"""Folder names inside one BAL and what a folder may be; the shape of STATUS
(`FolderStatus`, counted by `mailbox_sql.status`). The CREATE, DELETE, RENAME
and SUBSCRIBE units that apply these rules are `folder_sql`'s.

Owns: name rules (`canonical_name`), `FolderError` (a refused folder
operation with a neutral reason the IMAP engine maps to a response code),
`FolderStatus`, and the lookup by name COPY and MOVE run in their session
(`require_folder`).

Invariants:
- every query is filtered by `bal_id`: a name is a key inside one BAL, never
  a path; `..`, `.`, empty levels, control characters and the namespace
  prefixes `#` and `~` are refused, so no name can reach outside the BAL;
- the first level `INBOX` is case-insensitive and stored as `INBOX`; INBOX
  cannot be created or deleted; renaming it moves its messages to a new
  folder and leaves it empty (its inferiors stay);
- a new folder's UIDVALIDITY is above every value the BAL ever gave out
  (`folder_counter`), so a recreated or renamed-away name never reuses one;
- a name is a key, so its superior levels need no folder: CREATE and RENAME
  make none (they are listed `\\Noselect \\HasChildren`, as Dovecot's
  Maildir++ does; RFC 3501 6.3.3 asks for superiors only where "needed"),
  and DELETE keeps inferiors and the deleted name's subscription.

Ref: RFC 3501 2.3.1.1 (UIDVALIDITY), 5.1 (names), 6.3.3-6.3.7, 6.3.10 (STATUS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Folder as FolderRow

DELIMITER = "/"
MAX_NAME = 400
Reason = Literal["nonexistent", "exists", "invalid", "inbox", "overquota"]


class FolderError(LookupError):
    """A refused folder operation; `reason` says why (never a path or SQL)."""

    def __init__(self, reason: Reason, text: str) -> None:
        super().__init__(text)
        self.reason: Reason = reason


@dataclass(frozen=True)
class FolderStatus:
    """STATUS items of one folder (RFC 3501 6.3.10)."""

    messages: int
    recent: int
    uidnext: int
    uidvalidity: int
    unseen: int
    highestmodseq: int
    deleted: int = 0
    """Entries flagged \\Deleted (RFC 9208 STATUS DELETED)."""
    deleted_storage: int = 0
    """Their RFC822.SIZE sum in octets (RFC 9208 STATUS DELETED-STORAGE, sent in KiB)."""


def canonical_name(name: str) -> str:
    """`INBOX` as the first level whatever its case; refuses unsafe names."""
    levels = name.split(DELIMITER)
    bad = any(lv in ("", ".", "..") for lv in levels) or name[:1] in ("#", "~")
    bad = bad or "*" in name or "%" in name  # RFC 3501 6.3.8: LIST wildcards, never in names
    if bad or len(name) > MAX_NAME or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise FolderError("invalid", "Invalid mailbox name")
    if levels[0].upper() == "INBOX":  # RFC 3501 5.1: INBOX is case-insensitive
        levels[0] = "INBOX"
    return DELIMITER.join(levels)


def lookup_name(name: str) -> str | None:
    """The stored form of a name, None when no folder could have it."""
    try:
        return canonical_name(name)
    except FolderError:
        return None


async def folder_by_name(s: AsyncSession, bal_id: int, name: str) -> FolderRow | None:
    """The folder of this BAL with this name, if any."""
    stored = lookup_name(name)
    if stored is None:
        return None
    return (await s.execute(select(FolderRow).where(
        FolderRow.bal_id == bal_id, FolderRow.name == stored))).scalar_one_or_none()


async def require_folder(s: AsyncSession, bal_id: int, name: str) -> FolderRow:
    """`folder_by_name` or FolderError("nonexistent")."""
    row = await folder_by_name(s, bal_id, name)
    if row is None:
        raise FolderError("nonexistent", "Mailbox does not exist")
    return row
