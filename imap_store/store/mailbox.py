"""The store as IMAP sees it: folders, snapshots, bodies, flags, expunge.

Invariants:
- Every call is scoped by `bal_id`: a folder id of another BAL finds nothing
  (isolation; names are folder names inside the BAL, never paths).
- `\\Recent` is never stored; flags are stored space-separated.
- Each flag change or expunge raises the folder's `highestmodseq` and bumps
  the change notifier after commit.

Ref: RFC 3501 2.3 (message attributes), 6.4.3 (EXPUNGE); RFC 7162 (MODSEQ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database
from .keys import DataKeys
from .models import Folder as FolderRow
from .models import MailboxEntry, MessageContent, OutboundMessage
from .notify import ChangeNotifier


@dataclass(frozen=True)
class Folder:
    id: int
    bal_id: int
    name: str
    uidvalidity: int
    uidnext: int
    special_use: str | None
    subscribed: bool
    highestmodseq: int


@dataclass(frozen=True)
class MessageRow:
    uid: int
    flags: frozenset[str]
    size: int
    internaldate: datetime
    modseq: int


def _folder(row: FolderRow) -> Folder:
    return Folder(row.id, row.bal_id, row.name, row.uidvalidity, row.uidnext,
                  row.special_use, row.subscribed, row.highestmodseq)


def parse_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


def render_flags(flags: frozenset[str]) -> str:
    return " ".join(sorted(f for f in flags if f.lower() != "\\recent"))


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class MailboxStore:
    """Folder and message operations for the IMAP engine."""

    def __init__(self, db: Database, keys: DataKeys, notifier: ChangeNotifier) -> None:
        self.db = db
        self.keys = keys
        self.notifier = notifier

    async def list_folders(self, bal_id: int) -> list[Folder]:
        async with self.db.read() as s:
            rows = (await s.execute(select(FolderRow).where(FolderRow.bal_id == bal_id)
                                    .order_by(FolderRow.name))).scalars().all()
            return [_folder(r) for r in rows]

    async def get_folder(self, bal_id: int, name: str) -> Folder | None:
        async with self.db.read() as s:
            row = await self._folder_by_name(s, bal_id, name)
            return _folder(row) if row else None

    async def _folder_by_name(self, s: AsyncSession, bal_id: int, name: str) -> FolderRow | None:
        cond = (func.upper(FolderRow.name) == "INBOX") if name.upper() == "INBOX" \
            else (FolderRow.name == name)
        return (await s.execute(select(FolderRow).where(
            FolderRow.bal_id == bal_id, cond))).scalar_one_or_none()

    async def snapshot(self, bal_id: int, folder_id: int) -> tuple[Folder, list[MessageRow]]:
        async with self.db.read() as s:
            folder = await self._owned_folder(s, bal_id, folder_id)
            rows = (await s.execute(
                select(MailboxEntry.uid, MailboxEntry.flags, MessageContent.size,
                       MailboxEntry.internaldate, MailboxEntry.modseq)
                .join(MessageContent, MessageContent.id == MailboxEntry.content_id)
                .where(MailboxEntry.folder_id == folder.id)
                .order_by(MailboxEntry.uid))).all()
            return _folder(folder), [
                MessageRow(r[0], parse_flags(r[1]), r[2], _aware(r[3]), r[4]) for r in rows]

    async def _owned_folder(self, s: AsyncSession, bal_id: int, folder_id: int) -> FolderRow:
        row = await s.get(FolderRow, folder_id)
        if row is None or row.bal_id != bal_id:
            raise LookupError("no such folder")
        return row

    async def fetch_message(self, bal_id: int, folder_id: int, uid: int) -> bytes | None:
        async with self.db.read() as s:
            await self._owned_folder(s, bal_id, folder_id)
            content = (await s.execute(
                select(MessageContent).join(MailboxEntry,
                                            MailboxEntry.content_id == MessageContent.id)
                .where(MailboxEntry.folder_id == folder_id, MailboxEntry.uid == uid)
            )).scalar_one_or_none()
            if content is None:
                return None
            key = await self.keys.get(s, bal_id, content.key_version)
        return key.open(content.id, content.body)

    async def set_flags(self, bal_id: int, folder_id: int, uids: Sequence[int],
                        flags: frozenset[str],
                        mode: Literal["add", "remove", "replace"]) -> list[MessageRow]:
        async with self.db.write() as s:
            folder = await self._owned_folder(s, bal_id, folder_id)
            entries = (await s.execute(select(MailboxEntry).where(
                MailboxEntry.folder_id == folder_id, MailboxEntry.uid.in_(list(uids)))
                .order_by(MailboxEntry.uid))).scalars().all()
            changed = self._apply_flags(folder, entries, flags, mode)
            sizes = await self._sizes(s, [e.content_id for e in entries])
            result = [MessageRow(e.uid, parse_flags(e.flags), sizes[e.content_id],
                                 _aware(e.internaldate), e.modseq) for e in entries]
        if changed:
            self.notifier.bump(bal_id)
        return result

    @staticmethod
    def _apply_flags(folder: FolderRow, entries: Sequence[MailboxEntry],
                     flags: frozenset[str], mode: str) -> bool:
        changed = False
        for e in entries:
            old = parse_flags(e.flags)
            new = old | flags if mode == "add" else old - flags if mode == "remove" else flags
            text = render_flags(new)
            if text != e.flags:
                folder.highestmodseq += 1
                e.flags, e.modseq, changed = text, folder.highestmodseq, True
        return changed

    async def _sizes(self, s: AsyncSession, content_ids: list[str]) -> dict[str, int]:
        rows = (await s.execute(select(MessageContent.id, MessageContent.size)
                                .where(MessageContent.id.in_(content_ids)))).all()
        return {r[0]: r[1] for r in rows}

    async def expunge(self, bal_id: int, folder_id: int,
                      uids: Sequence[int] | None = None) -> list[int]:
        async with self.db.write() as s:
            folder = await self._owned_folder(s, bal_id, folder_id)
            q = select(MailboxEntry).where(MailboxEntry.folder_id == folder_id)
            if uids is not None:
                q = q.where(MailboxEntry.uid.in_(list(uids)))
            doomed = [e for e in (await s.execute(q)).scalars().all()
                      if "\\Deleted" in parse_flags(e.flags)]
            if not doomed:
                return []
            await s.execute(delete(MailboxEntry).where(
                MailboxEntry.id.in_([e.id for e in doomed])))
            await self._drop_orphans(s, [e.content_id for e in doomed])
            folder.highestmodseq += 1
        self.notifier.bump(bal_id)
        return sorted(e.uid for e in doomed)

    @staticmethod
    async def _drop_orphans(s: AsyncSession, content_ids: list[str]) -> None:
        still = select(MailboxEntry.content_id).where(MailboxEntry.content_id.in_(content_ids))
        queued = select(OutboundMessage.content_id).where(
            OutboundMessage.content_id.in_(content_ids))
        await s.execute(delete(MessageContent).where(
            MessageContent.id.in_(content_ids), MessageContent.id.not_in(still),
            MessageContent.id.not_in(queued)))
