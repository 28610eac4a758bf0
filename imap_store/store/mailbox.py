"""The store as IMAP sees it: folders, snapshots, bodies, meta, flags, writes.

Owns: `MailboxStore`, the one facade the IMAP engine uses, and its row
shapes `Folder` and `MessageRow`; a folder's UIDs and flags for SELECT come
from the process's `folder_index.IndexCache`; folder lifecycle rules live in
`folder_ops`, message writes in `message_ops`, meta reads in `meta_reader`.

Invariants:
- Every call is scoped by `bal_id`: a folder id of another BAL finds nothing
  and a folder name is looked up inside the BAL only, never as a path
  (isolation).
- `\\Recent` is never stored as a flag: `folder.recent_uid` says which UIDs
  no session has been told about yet, and `claim_recent` moves it once.
- Each flag change, expunge, append, copy or move raises the folder's
  `highestmodseq` in its write transaction (the folder rows are locked there,
  in id order) and bumps the change notifier after commit.
- Contents no entry or queue row references any more are deleted with the
  transaction that orphaned them.
- The quota usage counters of the folder rows (`quota`, R25) move in the same
  transaction as the entries they count; APPEND and COPY beyond the quota
  raise `OverQuota` (RFC 9208 OVERQUOTA) before writing anything.

Ref: RFC 3501 2.3 (message attributes), 6.3 and 6.4 (commands they serve);
RFC 7162 (MODSEQ).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from message.meta import MessageMeta

from . import folder_ops, message_ops
from .db import Database
from .folder_index import FolderIndex, IndexCache
from .folder_ops import FolderError, FolderStatus
from .keys import DataKeys
from .message_ops import AppendResult, CopyResult, NewMessage, folder_marker
from .meta_reader import MetaReader
from .models import Folder as FolderRow
from .models import MailboxEntry, MessageContent, OutboundMessage
from .notify import ChangeNotifier
from .offload import by_size
from .quota import NO_QUOTA, QuotaDefaults, QuotaState, check_room, moved, usage_in

__all__ = ["AppendResult", "CopyResult", "Folder", "FolderError", "FolderIndex",
           "FolderStatus", "MailboxStore", "MessageRow", "NewMessage"]
CHUNK = 500


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


def chunks(items: Sequence[int]) -> Iterator[list[int]]:
    """Bounded IN lists (SQLite and asyncpg cap bound parameters)."""
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])


async def _entry_rows(s: AsyncSession, folder_id: int,
                      *extra: ColumnElement[bool]) -> list[MessageRow]:
    """The index rows of a folder's entries (those matching `extra`), in UID order."""
    rows = (await s.execute(
        select(MailboxEntry.uid, MailboxEntry.flags, MessageContent.size,
               MailboxEntry.internaldate, MailboxEntry.modseq)
        .join(MessageContent, MessageContent.id == MailboxEntry.content_id)
        .where(MailboxEntry.folder_id == folder_id, *extra)
        .order_by(MailboxEntry.uid))).all()
    return [MessageRow(r[0], parse_flags(r[1]), r[2], _aware(r[3]), r[4]) for r in rows]


_FOLDER_COLUMNS = (FolderRow.id, FolderRow.bal_id, FolderRow.name, FolderRow.uidvalidity,
                   FolderRow.uidnext, FolderRow.special_use, FolderRow.subscribed,
                   FolderRow.highestmodseq)


async def _visible_folder(s: AsyncSession, bal_id: int, folder_id: int) -> Folder:
    """The folder `folder_id` if it belongs to `bal_id` (read as plain columns: the
    read paths never load an ORM object for it)."""
    row = (await s.execute(select(*_FOLDER_COLUMNS).where(
        FolderRow.id == folder_id, FolderRow.bal_id == bal_id))).first()
    if row is None:
        raise FolderError("nonexistent", "no such folder")
    return Folder(*row)


class MailboxStore:
    """Folder and message operations for the IMAP engine."""

    def __init__(self, db: Database, keys: DataKeys, notifier: ChangeNotifier,
                 indexes: IndexCache | None = None,
                 quota: QuotaDefaults = NO_QUOTA) -> None:
        self.db = db
        self.quota_defaults = quota
        self.keys = keys
        self.notifier = notifier
        self._meta = MetaReader(db, keys)
        self._indexes = indexes if indexes is not None else IndexCache()

    async def list_folders(self, bal_id: int) -> list[Folder]:
        async with self.db.read() as s:
            rows = (await s.execute(select(FolderRow).where(FolderRow.bal_id == bal_id)
                                    .order_by(FolderRow.name))).scalars().all()
            return [_folder(r) for r in rows]

    async def get_folder(self, bal_id: int, name: str) -> Folder | None:
        async with self.db.read() as s:
            row = await folder_ops.folder_by_name(s, bal_id, name)
            return _folder(row) if row else None

    async def snapshot(self, bal_id: int, folder_id: int) -> tuple[Folder, list[MessageRow]]:
        async with self.db.read() as s:
            folder = await _visible_folder(s, bal_id, folder_id)
            return folder, await _entry_rows(s, folder.id)

    async def index(self, bal_id: int, folder_id: int) -> tuple[Folder, FolderIndex]:
        """The folder and its UIDs and flags (what SELECT needs of every entry).

        Served from the process's index of the folder when its HIGHESTMODSEQ
        has not moved, brought up to date from the entries changed since when it
        has, read whole otherwise (`folder_index`)."""
        texts = self._indexes.texts
        entry = MailboxEntry.__table__.c  # Core columns: plain rows, no ORM loading
        async with self.db.read() as s:
            row = await self._owned_folder(s, bal_id, folder_id)
            folder = _folder(row)
            known = self._indexes.get(folder.id)
            if known is not None and known.uidvalidity == folder.uidvalidity:
                if known.highestmodseq == folder.highestmodseq:
                    return folder, known
                changed = (await s.execute(
                    select(entry.uid, entry.flags).where(
                        entry.folder_id == folder.id,
                        entry.modseq > known.highestmodseq))).all()
                count = (await s.execute(select(func.count()).select_from(MailboxEntry)
                                         .where(entry.folder_id == folder.id))).scalar_one()
                index = known.advanced(folder.uidvalidity, folder.highestmodseq,
                                       [(r[0], texts.parse(r[1])) for r in changed], count)
                if index is not None:
                    self._indexes.put(index)
                    return folder, index
            rows = (await s.execute(select(entry.uid, entry.flags)
                                    .where(entry.folder_id == folder.id)
                                    .order_by(entry.uid))).all()
        uids: list[int] = [r[0] for r in rows]
        flag_texts: list[str] = [r[1] for r in rows]
        parsed = {text: texts.parse(text) for text in set(flag_texts)}
        index = FolderIndex(folder.id, folder.uidvalidity, folder.highestmodseq,
                            uids, [parsed[text] for text in flag_texts])
        self._indexes.put(index)
        return folder, index

    async def details(self, bal_id: int, folder_id: int,
                      uids: Sequence[int]) -> dict[int, MessageRow]:
        """The index rows (size, internal date, MODSEQ, flags) of some entries."""
        out: dict[int, MessageRow] = {}
        owned = select(FolderRow.id).where(FolderRow.id == folder_id, FolderRow.bal_id == bal_id)
        async with self.db.read() as s:
            for chunk in chunks(sorted(uids)):
                # the folder's owner checked in the same statement (isolation)
                out.update((r.uid, r) for r in await _entry_rows(
                    s, folder_id, MailboxEntry.uid.in_(chunk),
                    MailboxEntry.folder_id.in_(owned.scalar_subquery())))
            if not out:  # nothing found: say so if the folder is not this BAL's
                await self._owned_folder(s, bal_id, folder_id)
        return out

    async def changes_since(self, bal_id: int, folder_id: int,
                            modseq: int) -> tuple[Folder, list[MessageRow], int]:
        """The folder, its entries whose MODSEQ is above `modseq`, and its entry count.

        What a session needs to catch up from a view taken at `modseq`: new and
        changed entries, and a count that tells whether any was expunged
        (RFC 7162 3.1.2: every change raises the MODSEQ it is stored with)."""
        async with self.db.read() as s:
            folder = await _visible_folder(s, bal_id, folder_id)
            rows = await _entry_rows(s, folder.id, MailboxEntry.modseq > modseq)
            count = (await s.execute(select(func.count()).select_from(MailboxEntry)
                                     .where(MailboxEntry.folder_id == folder.id))).scalar_one()
            return folder, rows, count

    async def uids(self, bal_id: int, folder_id: int) -> list[int]:
        """The UIDs of the folder's entries, ascending (what an expunge left)."""
        async with self.db.read() as s:
            folder = await _visible_folder(s, bal_id, folder_id)
            return list((await s.execute(
                select(MailboxEntry.uid).where(MailboxEntry.folder_id == folder.id)
                .order_by(MailboxEntry.uid))).scalars().all())

    @staticmethod
    async def _owned_folder(s: AsyncSession, bal_id: int, folder_id: int,
                            lock: bool = False) -> FolderRow:
        row = await s.get(FolderRow, folder_id, with_for_update=lock or None)
        if row is None or row.bal_id != bal_id:
            raise FolderError("nonexistent", "no such folder")
        return row

    async def fetch_message(self, bal_id: int, folder_id: int, uid: int) -> bytes | None:
        return (await self.fetch_messages(bal_id, folder_id, [uid])).get(uid)

    async def fetch_messages(self, bal_id: int, folder_id: int,
                             uids: Sequence[int]) -> dict[int, bytes]:
        """The whole messages `uids` still in the folder, decrypted, read in one
        transaction (the caller bounds how many octets it asks for at once)."""
        async with self.db.read() as s:
            await _visible_folder(s, bal_id, folder_id)
            rows: list[tuple[int, str, int, bytes]] = []
            for chunk in chunks(uids):
                rows += [(r[0], r[1], r[2], r[3]) for r in (await s.execute(
                    select(MailboxEntry.uid, MessageContent.id, MessageContent.key_version,
                           MessageContent.body)
                    .join(MessageContent, MessageContent.id == MailboxEntry.content_id)
                    .where(MailboxEntry.folder_id == folder_id,
                           MailboxEntry.uid.in_(chunk)))).all()]
            keys = {v: await self.keys.get(s, bal_id, v) for v in sorted({r[2] for r in rows})}

        def open_all() -> dict[int, bytes]:
            return {uid: keys[version].open(cid, body) for uid, cid, version, body in rows}

        return await by_size(sum(len(r[3]) for r in rows), open_all)

    async def fetch_meta(self, bal_id: int, folder_id: int,
                         uids: Sequence[int]) -> dict[int, MessageMeta]:
        """Header, ENVELOPE and BODYSTRUCTURE of messages, without their bodies."""
        async with self.db.read() as s:
            await _visible_folder(s, bal_id, folder_id)
        return await self._meta.read(bal_id, folder_id, uids)

    async def claim_recent(self, bal_id: int, folder_id: int, up_to: int, *,
                           claim: bool) -> int:
        """The old `\\Recent` floor; with `claim`, UIDs up to `up_to` stop being recent."""
        async with self.db.read() as s:
            before = (await self._owned_folder(s, bal_id, folder_id)).recent_uid
        if not claim or up_to <= before:
            return before
        async with self.db.write() as s:
            folder = await self._owned_folder(s, bal_id, folder_id, lock=True)
            before = folder.recent_uid
            folder.recent_uid = max(before, up_to)
        return before

    async def set_flags(self, bal_id: int, folder_id: int, uids: Sequence[int],
                        flags: frozenset[str],
                        mode: Literal["add", "remove", "replace"]) -> list[MessageRow]:
        result: list[MessageRow] = []
        changed = False
        async with self.db.write() as s:
            folder = await self._owned_folder(s, bal_id, folder_id, lock=True)
            for chunk in chunks(uids):
                entries = (await s.execute(select(MailboxEntry).where(
                    MailboxEntry.folder_id == folder_id, MailboxEntry.uid.in_(chunk))
                    .order_by(MailboxEntry.uid))).scalars().all()
                changed = self._apply_flags(folder, entries, flags, mode) or changed
                sizes = await self._sizes(s, [e.content_id for e in entries])
                result += [MessageRow(e.uid, parse_flags(e.flags), sizes[e.content_id],
                                      _aware(e.internaldate), e.modseq) for e in entries]
        if changed:
            self.notifier.committed(bal_id, [folder_marker(folder)])
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
            folder = await self._owned_folder(s, bal_id, folder_id, lock=True)
            # The database narrows to entries whose flags mention "Deleted"; the
            # exact flag is checked here (a keyword such as "NotDeleted" also matches).
            q = select(MailboxEntry.id, MailboxEntry.uid, MailboxEntry.content_id,
                       MailboxEntry.flags, MessageContent.size).join(
                MessageContent, MessageContent.id == MailboxEntry.content_id).where(
                MailboxEntry.folder_id == folder_id,
                MailboxEntry.flags.contains("Deleted", autoescape=True))
            rows = (await s.execute(q)).all()
            wanted = None if uids is None else set(uids)
            doomed = [r for r in rows if "\\Deleted" in parse_flags(r[3])
                      and (wanted is None or r[1] in wanted)]
            if not doomed:
                return []
            for chunk in chunks([r[0] for r in doomed]):
                await s.execute(delete(MailboxEntry).where(MailboxEntry.id.in_(chunk)))
            await self._drop_orphans(s, [r[2] for r in doomed])
            moved(folder, -sum(int(r[4]) for r in doomed), -len(doomed))  # R25 usage
            folder.highestmodseq += 1
        self.notifier.committed(bal_id, [folder_marker(folder)])
        return sorted(r[1] for r in doomed)

    @staticmethod
    async def _drop_orphans(s: AsyncSession, content_ids: Sequence[str]) -> None:
        for start in range(0, len(content_ids), CHUNK):
            batch = list(set(content_ids[start : start + CHUNK]))
            still = select(MailboxEntry.content_id).where(MailboxEntry.content_id.in_(batch))
            queued = select(OutboundMessage.content_id).where(
                OutboundMessage.content_id.in_(batch))
            await s.execute(delete(MessageContent).where(
                MessageContent.id.in_(batch), MessageContent.id.not_in(still),
                MessageContent.id.not_in(queued)))

    async def quota(self, bal_id: int) -> QuotaState:
        """The BAL's quota usage and limits (GETQUOTA, RFC 9208; R25)."""
        async with self.db.read() as s:
            return await usage_in(s, bal_id, self.quota_defaults)

    async def status(self, bal_id: int, name: str) -> FolderStatus:
        """STATUS of a folder of this BAL (FolderError when there is none)."""
        async with self.db.read() as s:
            return await folder_ops.status(s, await folder_ops.require_folder(s, bal_id, name))

    async def create_folder(self, bal_id: int, name: str) -> Folder:
        async with self.db.write() as s:
            row = await folder_ops.create(s, bal_id, name)
            folder = _folder(row)
        self.notifier.bump(bal_id)
        return folder

    async def delete_folder(self, bal_id: int, name: str) -> None:
        async with self.db.write() as s:
            await self._drop_orphans(s, await folder_ops.remove(s, bal_id, name))
        self.notifier.bump(bal_id)

    async def rename_folder(self, bal_id: int, old: str, new: str) -> None:
        async with self.db.write() as s:
            await folder_ops.rename(s, bal_id, old, new)
        self.notifier.bump(bal_id)

    async def subscribe(self, bal_id: int, name: str, subscribed: bool = True) -> None:
        async with self.db.write() as s:
            await folder_ops.subscribe(s, bal_id, name, subscribed)

    async def subscriptions(self, bal_id: int) -> list[str]:
        async with self.db.read() as s:
            return await folder_ops.subscriptions(s, bal_id)

    async def append(self, bal_id: int, name: str, messages: Sequence[NewMessage],
                     now: datetime | None = None) -> AppendResult:
        """APPEND / MULTIAPPEND: all messages in one transaction.

        The key is read and the messages sealed (meta included) in a worker
        thread before the write transaction, which only inserts
        (`message_ops.insert_sealed`, the path SMTP delivery takes too)."""
        async with self.db.read() as s:
            await folder_ops.require_folder(s, bal_id, name)
            key = await self.keys.current(s, bal_id)
        sealed = await message_ops.seal_off_loop([message_ops.ToSeal(key, m.raw)
                                                  for m in messages])
        async with self.db.write() as s:
            folder = await message_ops.locked_folder(s, bal_id, name)
            # RFC 9208: beyond the quota, APPEND is refused [OVERQUOTA] and nothing stored.
            await check_room(s, bal_id, self.quota_defaults, sum(m.size for m in sealed),
                             len(sealed))
            result = await message_ops.insert_sealed(
                s, folder, list(zip(sealed, messages, strict=True)), now or datetime.now(UTC))
        self.notifier.committed(bal_id, [folder_marker(folder)])
        return result

    async def copy(self, bal_id: int, folder_id: int, uids: Sequence[int],
                   target: str, *, move: bool = False) -> CopyResult:
        """COPY (or MOVE) messages to another folder of the same BAL."""
        async with self.db.write() as s:
            source = await self._owned_folder(s, bal_id, folder_id)
            dest = await folder_ops.require_folder(s, bal_id, target)
            for row in sorted({source.id: source, dest.id: dest}.values(), key=lambda r: r.id):
                await s.refresh(row, with_for_update=True)
            results = []
            for chunk in chunks(uids):
                done = await message_ops.copy_entries(
                    s, source, chunk, dest, self.quota_defaults, move=move)
                if move:
                    await message_ops.remove_entries(s, source, done.source_uids, done.size)
                results.append(done)
            moved_uids = [uid for r in results for uid in r.source_uids]
        self.notifier.committed(bal_id, [folder_marker(source), folder_marker(dest)])
        return CopyResult(dest.uidvalidity, tuple(moved_uids),
                          tuple(uid for r in results for uid in r.target_uids))
