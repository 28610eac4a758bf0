"""Folder names and folder lifecycle inside one BAL: CREATE, DELETE, RENAME,
SUBSCRIBE; the shape of STATUS (`FolderStatus`, counted by `mailbox_sql.status`).

Owns: name rules (`canonical_name`), `FolderError` (a refused folder
operation with a neutral reason the IMAP engine maps to a response code),
`FolderStatus`, and the session-level helpers `MailboxStore` runs inside its
transactions.

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

import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Folder as FolderRow
from .models import FolderCounter, FolderSubscription, MailboxEntry

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


async def _names(s: AsyncSession, bal_id: int) -> set[str]:
    return set((await s.execute(select(FolderRow.name).where(
        FolderRow.bal_id == bal_id))).scalars())


async def next_uidvalidity(s: AsyncSession, bal_id: int) -> int:
    """A UIDVALIDITY above any this BAL has used (recorded in `folder_counter`)."""
    counter = await s.get(FolderCounter, bal_id, with_for_update=True)
    highest = (await s.execute(select(func.max(FolderRow.uidvalidity)).where(
        FolderRow.bal_id == bal_id))).scalar_one_or_none() or 0
    last = max(highest, counter.last_uidvalidity if counter else 0)
    # RFC 3501 2.3.1.1: a name reused for a new mailbox must get a new, higher UIDVALIDITY.
    value = max(int(time.time()), last + 1)
    if counter is None:
        s.add(FolderCounter(bal_id=bal_id, last_uidvalidity=value))
    else:
        counter.last_uidvalidity = value
    return value


async def _new_folder(s: AsyncSession, bal_id: int, name: str) -> FolderRow:
    orphan = await s.get(FolderSubscription, (bal_id, name))
    if orphan is not None:
        await s.delete(orphan)
    row = FolderRow(bal_id=bal_id, name=name, special_use=None, subscribed=orphan is not None,
                    uidvalidity=await next_uidvalidity(s, bal_id), uidnext=1,
                    highestmodseq=1, recent_uid=0)
    s.add(row)
    await s.flush()
    return row


async def create(s: AsyncSession, bal_id: int, name: str) -> FolderRow:
    """CREATE one folder (RFC 3501 6.3.3): its superior levels need no row."""
    name = canonical_name(name)
    if name == "INBOX" or await folder_by_name(s, bal_id, name) is not None:
        raise FolderError("exists", "Mailbox already exists")  # RFC 3501 6.3.3: NO
    return await _new_folder(s, bal_id, name)


async def remove(s: AsyncSession, bal_id: int, name: str) -> list[str]:
    """DELETE one folder and its entries (RFC 3501 6.3.4); their content ids."""
    row = await require_folder(s, bal_id, name)
    if row.name == "INBOX":  # RFC 3501 6.3.4: deleting INBOX is an error
        raise FolderError("inbox", "INBOX cannot be deleted")
    if row.subscribed:  # RFC 3501 6.3.6: DELETE does not unsubscribe the name
        s.add(FolderSubscription(bal_id=bal_id, name=row.name))
    contents = list((await s.execute(select(MailboxEntry.content_id).where(
        MailboxEntry.folder_id == row.id))).scalars())
    await s.execute(delete(MailboxEntry).where(MailboxEntry.folder_id == row.id))
    await s.execute(delete(FolderRow).where(FolderRow.id == row.id))
    return contents


async def subscribe(s: AsyncSession, bal_id: int, name: str, on: bool) -> None:
    """SUBSCRIBE (existing folders only) / UNSUBSCRIBE (RFC 3501 6.3.6, 6.3.7)."""
    stored = lookup_name(name)
    row = await folder_by_name(s, bal_id, name)
    orphan = await s.get(FolderSubscription, (bal_id, stored)) if stored else None
    # RFC 3501 6.3.7: UNSUBSCRIBE also works for a name whose mailbox was deleted.
    if row is None and (on or orphan is None):
        raise FolderError("nonexistent", "Mailbox does not exist")
    if row is not None:
        row.subscribed = on
    if orphan is not None and not on:
        await s.delete(orphan)


async def subscriptions(s: AsyncSession, bal_id: int) -> list[str]:
    """Every subscribed name of the BAL (folders and kept names)."""
    rows = await s.execute(select(FolderRow.name).where(
        FolderRow.bal_id == bal_id, FolderRow.subscribed.is_(True)))
    kept = await s.execute(select(FolderSubscription.name).where(
        FolderSubscription.bal_id == bal_id))
    return sorted(set(rows.scalars()) | set(kept.scalars()))


async def rename_entries(s: AsyncSession, source: FolderRow, target: FolderRow) -> None:
    """Move every entry of `source` (INBOX) to the new `target`, keeping UIDs."""
    await s.refresh(source, with_for_update=True)  # its counters move with its entries
    await s.execute(update(MailboxEntry).where(MailboxEntry.folder_id == source.id)
                    .values(folder_id=target.id))
    target.uidnext, target.recent_uid = source.uidnext, source.recent_uid
    # R25: the quota usage goes with the entries (the BAL's total is unchanged).
    target.used_bytes, target.used_messages = source.used_bytes, source.used_messages
    source.used_bytes, source.used_messages = 0, 0
    source.highestmodseq += 1


async def rename(s: AsyncSession, bal_id: int, old: str, new: str) -> None:
    """RENAME a folder and its inferiors, or INBOX's messages (RFC 3501 6.3.5)."""
    old, new = canonical_name(old), canonical_name(new)
    names = await _names(s, bal_id)
    if new == "INBOX" or new in names:
        raise FolderError("exists", "Target mailbox already exists")
    if old == "INBOX":  # RFC 3501 6.3.5: renaming INBOX moves its messages, INBOX stays
        await rename_entries(s, await require_folder(s, bal_id, old), await create(s, bal_id, new))
        return
    # RFC 3501 6.3.5: inferior hierarchical names are renamed too.
    moving = sorted(n for n in names if n == old or n.startswith(old + DELIMITER))
    if not moving:
        raise FolderError("nonexistent", "Mailbox does not exist")
    if new.startswith(old + DELIMITER) or any(new + n[len(old):] in names for n in moving):
        raise FolderError("invalid", "Cannot rename a mailbox into itself or over another")
    for name in moving:
        await s.execute(update(FolderRow).where(
            FolderRow.bal_id == bal_id, FolderRow.name == name).values(name=new + name[len(old):]))


