"""The store as IMAP sees it: folders, snapshots, bodies, meta, flags, writes.

Owns: `MailboxStore`, the one facade the IMAP engine uses, and its row
shapes `Folder` and `MessageRow`; a folder's UIDs and flags for SELECT come
from the process's `folder_index.IndexCache`; folder name rules live in
`folder_ops`, the folder lifecycle units in `folder_sql`, message writes in
`message_ops`, meta reads in `meta_reader`.

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
  transaction that orphaned them (`mailbox_sql.drop_orphans`, also for the
  DELETE of a folder, `folder_sql.remove`).
- The quota usage counters of the folder rows (`quota`, R25) move in the same
  transaction as the entries they count; APPEND and COPY beyond the quota
  raise `OverQuota` (RFC 9208 OVERQUOTA) before writing anything.

Ref: RFC 3501 2.3 (message attributes), 6.3 and 6.4 (commands they serve);
RFC 7162 (MODSEQ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal, TypeVar

from message.meta import MessageMeta

from . import folder_ops, folder_sql, mailbox_sql, message_ops
from .db import Database
from .folder_index import FolderIndex, IndexCache
from .folder_ops import FolderError, FolderStatus
from .interfaces import AuditFor
from .keys import DataKeys
from .mailbox_sql import EntryValues, FolderValues, chunks
from .message_ops import AppendResult, CopyResult, NewMessage, folder_marker
from .meta_reader import MetaReader
from .models import Folder as FolderRow
from .notify import ChangeNotifier
from .offload import by_size
from .own_write import OwnWrite
from .quota import NO_QUOTA, QuotaDefaults, QuotaState, usage_in
from .read_pool import INLINE_OCTETS, INLINE_ROWS

__all__ = ["AppendResult", "CopyResult", "Folder", "FolderError", "FolderIndex",
           "FolderStatus", "MailboxStore", "MessageRow", "NewMessage", "OwnWrite"]


Folder = FolderValues
"""A folder as the IMAP engine sees it (`mailbox_sql.FolderValues`)."""
T = TypeVar("T")


@dataclass(frozen=True)
class MessageRow:
    uid: int
    flags: frozenset[str]
    size: int
    internaldate: datetime
    modseq: int


def _or_refusal(done: T | FolderError) -> T:
    """A folder unit's value, or its refusal raised (the unit wrote nothing then)."""
    if isinstance(done, FolderError):
        raise done
    return done


def _row(e: EntryValues) -> MessageRow:
    return MessageRow(e.uid, frozenset(e.flags.split()), e.size, e.internaldate, e.modseq)


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
        return await self.db.reader.run(partial(mailbox_sql.list_folders, bal_id), single=True)

    async def get_folder(self, bal_id: int, name: str) -> Folder | None:
        return await self.db.reader.run(partial(mailbox_sql.get_folder, bal_id, name),
                                        single=True)

    async def snapshot(self, bal_id: int, folder_id: int) -> tuple[Folder, list[MessageRow]]:
        folder, rows = await self.db.reader.run(
            partial(mailbox_sql.folder_entries, bal_id, folder_id), large=True)
        return folder, [_row(e) for e in rows]

    async def index(self, bal_id: int, folder_id: int) -> tuple[Folder, FolderIndex]:
        """The folder and its UIDs and flags (what SELECT needs of every entry).

        Served from the process's index of the folder when its HIGHESTMODSEQ
        has not moved, brought up to date from the entries changed since when it
        has, read whole otherwise (`folder_index`); one read unit, two for a folder
        above `read_pool.INLINE_ROWS` read whole (bounded on the loop, then in a thread)."""
        texts = self._indexes.texts
        known = self._indexes.get(folder_id)
        reader = self.db.reader
        found = await reader.run(partial(
            mailbox_sql.index_read, bal_id, folder_id,
            None if known is None else (known.uidvalidity, known.highestmodseq),
            limit=reader.inline_rows))
        if found.more:  # a large folder read whole: off the loop
            found = await reader.run(partial(mailbox_sql.index_read, bal_id, folder_id, None),
                                     large=True)
        folder = found.folder
        if known is not None and found.whole is None:
            if found.changed is None:
                return folder, known
            index = known.advanced(folder.uidvalidity, folder.highestmodseq,
                                   [(uid, texts.parse(t)) for uid, t in found.changed],
                                   found.count)
            if index is not None:
                self._indexes.put(index)
                return folder, index
            # the changes do not fold into the index held: read it whole
            found = await self.db.reader.run(partial(mailbox_sql.index_read, bal_id,
                                                     folder_id, None), large=True)
            folder = found.folder
        whole = found.whole or []
        parsed = {text: texts.parse(text) for text in {t for _, t in whole}}
        index = FolderIndex(folder.id, folder.uidvalidity, folder.highestmodseq,
                            [uid for uid, _ in whole], [parsed[t] for _, t in whole])
        self._indexes.put(index)
        return folder, index

    async def details(self, bal_id: int, folder_id: int,
                      uids: Sequence[int]) -> dict[int, MessageRow]:
        """The index rows (size, internal date, MODSEQ, flags) of some entries."""
        rows = await self.db.reader.run(
            partial(mailbox_sql.entry_rows, bal_id, folder_id, list(uids)),
            large=len(uids) > INLINE_ROWS, single=mailbox_sql.one_statement(uids))
        return {e.uid: _row(e) for e in rows}

    async def changes_since(self, bal_id: int, folder_id: int,
                            modseq: int) -> tuple[Folder, list[MessageRow], int]:
        """The folder, its entries whose MODSEQ is above `modseq`, and its entry count.

        What a session needs to catch up from a view taken at `modseq`: new and
        changed entries, and a count that tells whether any was expunged
        (RFC 7162 3.1.2: every change raises the MODSEQ it is stored with)."""
        folder, rows, count = await self.db.reader.run(
            partial(mailbox_sql.changes_since, bal_id, folder_id, modseq),  # few: on the loop
            single=True)
        return folder, [_row(e) for e in rows], count

    async def uids(self, bal_id: int, folder_id: int) -> list[int]:
        """The UIDs of the folder's entries, ascending (what an expunge left)."""
        reader = self.db.reader
        found = await reader.run(partial(mailbox_sql.uids, bal_id, folder_id,
                                         limit=reader.inline_rows))
        if found is None:  # a large folder: read whole off the loop
            found = await reader.run(partial(mailbox_sql.uids, bal_id, folder_id), large=True)
        assert found is not None
        return found

    async def marker(self, bal_id: int, folder_id: int) -> tuple[int, int]:
        """The folder's `(uidnext, highestmodseq)` as committed by any process: what
        NOOP and CHECK compare with their view (one statement)."""
        return (await self.db.reader.run(
            partial(mailbox_sql.owned_folder_unit, bal_id, folder_id), single=True)).marker[1]

    async def fetch_message(self, bal_id: int, folder_id: int, uid: int) -> bytes | None:
        return (await self.fetch_messages(bal_id, folder_id, [uid])).get(uid)

    async def fetch_messages(self, bal_id: int, folder_id: int, uids: Sequence[int], *,
                             octets: int | None = None) -> dict[int, bytes]:
        """The whole messages `uids` still in the folder, decrypted, read in one
        transaction (the caller bounds how many octets it asks for at once; `octets`:
        their stored sizes when known, which lets a small read stay on the loop)."""
        rows = await self.db.reader.run(
            partial(mailbox_sql.sealed_parts, "body", bal_id, folder_id, list(uids)),
            large=octets is None or octets > INLINE_OCTETS,
            single=mailbox_sql.one_statement(uids))
        keys = {v: await self.keys.read_key(self.db.reader.run, bal_id, v)
                for v in sorted({r[2] for r in rows})}

        def open_all() -> dict[int, bytes]:
            return {uid: keys[version].open(cid, body or b"")
                    for uid, cid, version, body in rows}

        return await by_size(sum(len(r[3] or b"") for r in rows), open_all)

    async def fetch_meta(self, bal_id: int, folder_id: int,
                         uids: Sequence[int]) -> dict[int, MessageMeta]:
        """Header, ENVELOPE and BODYSTRUCTURE of messages, without their bodies."""
        return await self._meta.read(bal_id, folder_id, uids)

    async def claim_recent(self, bal_id: int, folder_id: int, up_to: int, *,
                           claim: bool) -> int:
        """The old `\\Recent` floor; with `claim`, UIDs up to `up_to` stop being recent."""
        before = await self.db.reader.run(partial(mailbox_sql.recent_floor, bal_id, folder_id),
                                          single=True)
        if not claim or up_to <= before:  # nothing to claim: no write transaction at all
            return before
        return await self.db.writer.run(
            partial(mailbox_sql.claim_recent, bal_id, folder_id, up_to))

    async def set_flags(self, bal_id: int, folder_id: int, uids: Sequence[int],
                        flags: frozenset[str],
                        mode: Literal["add", "remove", "replace"],
                        audit: AuditFor | None = None, *,
                        own: OwnWrite | None = None) -> list[MessageRow]:
        """STORE: the entries asked for that are still there, as they now are; `own`
        records what the write did (`own_write`)."""
        entries, before, after = await self.db.writer.run(
            partial(mailbox_sql.set_flags, bal_id, folder_id, list(uids), flags, mode, audit))
        rows = [_row(e) for e in entries]
        changed = [] if after is None else [r for r in rows if r.modseq == after.highestmodseq]
        self._settled(bal_id, before.marker[1], after, changed, own)
        return rows

    async def expunge(self, bal_id: int, folder_id: int, uids: Sequence[int] | None = None,
                      audit: AuditFor | None = None, *,
                      own: OwnWrite | None = None) -> list[int]:
        """EXPUNGE / UID EXPUNGE (RFC 3501 6.4.3, RFC 4315 2.1): the UIDs removed.
        A folder of the BAL holding no `\\Deleted` entry is answered by one read
        statement, with no write transaction (clients send EXPUNGE on close or on a
        timer, mostly with nothing to remove); otherwise, and for a folder not found,
        the write unit decides. `own` records what happened (`own_write`)."""
        unchanged = await self.db.reader.run(
            partial(mailbox_sql.nothing_doomed, bal_id, folder_id), single=True)
        if unchanged is not None:
            self._settled(bal_id, unchanged, None, [], own)
            return []
        gone, before, after = await self.db.writer.run(partial(
            mailbox_sql.expunge, bal_id, folder_id, None if uids is None else list(uids),
            audit))
        self._settled(bal_id, before.marker[1], after, [], own)
        return gone

    def _settled(self, bal_id: int, before: tuple[int, int], after: Folder | None,
                 rows: Sequence[MessageRow], own: OwnWrite | None) -> None:
        """After a write unit on one folder (`after` None: it changed nothing): the
        notifier told of the change, and `own` filled in for the session that asked."""
        if after is not None:
            self.notifier.committed(bal_id, [after.marker])
        if own is not None:
            own.record(before, after, rows, self.notifier.version(bal_id))

    async def quota(self, bal_id: int) -> QuotaState:
        """The BAL's quota usage and limits (GETQUOTA, RFC 9208; R25)."""
        async with self.db.read() as s:
            return await usage_in(s, bal_id, self.quota_defaults)

    async def status(self, bal_id: int, name: str) -> FolderStatus:
        """STATUS of a folder of this BAL (FolderError when there is none)."""
        return await self.db.reader.run(partial(mailbox_sql.status, bal_id, name), single=True)

    async def create_folder(self, bal_id: int, name: str) -> Folder:
        folder = _or_refusal(await self.db.writer.run(partial(folder_sql.create, bal_id, name)))
        self.notifier.bump(bal_id)
        return folder

    async def delete_folder(self, bal_id: int, name: str) -> None:
        # the folder's contents no other entry or queue row references go with it
        _or_refusal(await self.db.writer.run(partial(folder_sql.remove, bal_id, name)))
        self.notifier.bump(bal_id)

    async def rename_folder(self, bal_id: int, old: str, new: str) -> None:
        _or_refusal(await self.db.writer.run(partial(folder_sql.rename, bal_id, old, new)))
        self.notifier.bump(bal_id)

    async def subscribe(self, bal_id: int, name: str, subscribed: bool = True) -> None:
        _or_refusal(await self.db.writer.run(
            partial(folder_sql.subscribe, bal_id, name, subscribed)))

    async def subscriptions(self, bal_id: int) -> list[str]:
        return await self.db.reader.run(partial(folder_sql.subscriptions, bal_id))

    async def append(self, bal_id: int, name: str, messages: Sequence[NewMessage],
                     now: datetime | None = None,
                     audit: AuditFor | None = None, *,
                     claim_for: int | None = None, own: OwnWrite | None = None) -> AppendResult:
        """APPEND / MULTIAPPEND: all messages in one transaction.

        The key is read and the messages sealed (meta included) in a worker
        thread before the write unit, which only inserts
        (`message_ops.insert_sealed_tx`, whose allocator and rows SMTP delivery
        uses too); a folder the BAL does not have is found there (`FolderError`,
        nothing written). `claim_for`: the folder the appending session has selected
        read-write, whose `\\Recent` floor moves in the same transaction when it is
        the target (`AppendResult.recent_floor`); `own` records what the write did to
        that folder when it is the target (`own_write`)."""
        key = await self.keys.read_current(self.db.reader.run, bal_id)
        sealed = await message_ops.seal_off_loop([message_ops.ToSeal(key, m.raw, meta=m.meta)
                                                  for m in messages])
        stamp = now or datetime.now(UTC)
        # RFC 9208: beyond the quota, APPEND is refused [OVERQUOTA] and nothing stored.
        done = await self.db.writer.run(partial(
            mailbox_sql.append, bal_id, name, list(zip(sealed, messages, strict=True)),
            stamp, self.quota_defaults, audit, claim_for))
        if done is None:  # the unit found no such folder (nothing written)
            raise FolderError("nonexistent", "Mailbox does not exist")
        result, before, after = done
        for seal, message in zip(sealed, messages, strict=True):
            if seal.meta is not None and message.meta is not None:
                self._meta.remember(bal_id, seal.content_id, seal.key_version, seal.meta,
                                    message.meta)
        selected = own if after.id == claim_for else None  # the session's own folder only
        rows = [] if selected is None else [
            MessageRow(uid, frozenset(m.flags), s.size, (m.internaldate or stamp).astimezone(UTC),
                       after.highestmodseq)
            for uid, s, m in zip(result.uids, sealed, messages, strict=True)]
        self._settled(bal_id, before.marker[1], after, rows, selected)
        return result

    async def copy(self, bal_id: int, folder_id: int, uids: Sequence[int],
                   target: str, *, move: bool = False) -> CopyResult:
        """COPY (or MOVE) messages to another folder of the same BAL."""
        async with self.db.write() as s:
            source = await s.get(FolderRow, folder_id)
            if source is None or source.bal_id != bal_id:
                raise FolderError("nonexistent", "no such folder")
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
