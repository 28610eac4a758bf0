"""Purging a folder's old entries in short write transactions, as ordinary expunges.

Owns: `Purger` (`purge`: the entries of one folder received before a cutoff,
in batches), the per-BAL retention settings (`own_settings`, `set_own`) and
the folder walk of the retention job (`folders_after`).

Invariants:
- each batch (at most `batch` entries) is one unit of the database's
  group-commit writer: it locks the folder row, deletes the entries, deletes
  the contents no entry or queue row references any more
  (`mailbox_sql.drop_orphans`), lowers the folder's quota usage counters by
  what it removed and raises the folder's `highestmodseq` - the same effects
  as IMAP EXPUNGE
  (`mailbox.MailboxStore.expunge`), so sessions of this process are told at
  once (`ChangeNotifier.committed`) and those of other processes by
  `change_watch` within its poll, and each sees ordinary `* n EXPUNGE`
  responses (RFC 3501 7.4.1; RFC 7162 3.1.2: MODSEQ moves);
- the write lock is held for one batch at a time, never for a whole folder,
  and not at all for a folder with nothing to purge (`oldest`, a read);
- entries are chosen by internal date (RFC 3501 2.3.3), never by content;
  the UIDs purged are returned for the audit (R24: never content).

Ref: R25 (retention purge, counted and audited without content); RFC 3501
2.3.3, 6.4.3, 7.4.1; RFC 7162 3.1.2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import delete, func, select

from .db import Database
from .group_commit import WriteTx
from .mailbox_sql import drop_orphans
from .models import Bal, BalRetention, Folder, MailboxEntry
from .notify import ChangeNotifier

_PICKED = ("SELECT e.id, e.uid, e.content_id, c.size FROM mailbox_entry e "
           "JOIN message_content c ON c.id = e.content_id WHERE e.folder_id = $1 ")
PICK = _PICKED + "AND e.internaldate < $2 ORDER BY e.uid LIMIT $3"
PICK_ALL = _PICKED + "ORDER BY e.uid LIMIT $2"


@dataclass(frozen=True)
class FolderRef:
    id: int
    bal_id: int
    address: str
    bal_type: str
    name: str


@dataclass
class Purger:
    """Purges folders through `db.writer`; `longest` is the longest batch seen (s)."""

    db: Database
    notifier: ChangeNotifier
    batch: int = 500
    longest: float = 0.0
    batches: int = field(default=0)

    async def purge(self, bal_id: int, folder_id: int, cutoff: datetime | None) -> list[int]:
        """Remove the folder's entries received before `cutoff` (all when None);
        returns their UIDs, ascending."""
        gone: list[int] = []
        while True:
            started = time.perf_counter()
            uids, marker = await self.db.writer.run(partial(
                _purge_batch, folder_id=folder_id, cutoff=cutoff, limit=self.batch))
            self.longest = max(self.longest, time.perf_counter() - started)
            self.batches += 1
            if marker is not None:
                self.notifier.committed(bal_id, [(folder_id, marker)])
            gone += uids
            if len(uids) < self.batch:
                return gone




async def _purge_batch(tx: WriteTx, *, folder_id: int, cutoff: datetime | None,
                       limit: int) -> tuple[list[int], tuple[int, int] | None]:
    """One batch, as a re-runnable unit of work (`group_commit`)."""
    locked = await tx.fetch("SELECT id FROM folder WHERE id = $1 FOR UPDATE", folder_id)
    if not locked:
        return [], None
    rows = (await tx.fetch(PICK, folder_id, cutoff, limit) if cutoff is not None
            else await tx.fetch(PICK_ALL, folder_id, limit))
    if not rows:
        return [], None
    await tx.executemany("DELETE FROM mailbox_entry WHERE id = $1", [(r[0],) for r in rows])
    await drop_orphans(tx, [r[2] for r in rows])
    # the quota usage counters move with the entries (R25, `quota`)
    mark = await tx.fetch("UPDATE folder SET highestmodseq = highestmodseq + 1, "
                          "used_bytes = used_bytes - $2, used_messages = used_messages - $3 "
                          "WHERE id = $1 RETURNING uidnext, highestmodseq", folder_id,
                          sum(int(r[3]) for r in rows), len(rows))
    return sorted(int(r[1]) for r in rows), (int(mark[0][0]), int(mark[0][1]))


async def folders_after(db: Database, after: int, limit: int) -> list[FolderRef]:
    """Folders of every BAL by id, `limit` at a time from after id `after`."""
    async with db.read() as s:
        rows = (await s.execute(
            select(Folder.id, Folder.bal_id, Bal.address, Bal.bal_type, Folder.name)
            .join(Bal, Bal.id == Folder.bal_id).where(Folder.id > after)
            .order_by(Folder.id).limit(limit))).all()
    return [FolderRef(*r) for r in rows]


async def oldest(db: Database, folder_ids: Sequence[int]) -> dict[int, datetime]:
    """The oldest internal date in each of these folders (empty folders absent): one
    read per 500 folders, so that a folder with nothing to purge costs no write."""
    found: dict[int, datetime] = {}
    async with db.read() as s:
        for start in range(0, len(folder_ids), 500):
            rows = (await s.execute(
                select(MailboxEntry.folder_id, func.min(MailboxEntry.internaldate))
                .where(MailboxEntry.folder_id.in_(list(folder_ids[start:start + 500])))
                .group_by(MailboxEntry.folder_id))).all()
            found.update({r[0]: r[1] if r[1].tzinfo else r[1].replace(tzinfo=UTC)
                          for r in rows})
    return found


async def own_settings(db: Database, bal_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each BAL's own retention periods (`mss bal set --retention`), by folder."""
    found: dict[int, dict[str, int]] = {}
    async with db.read() as s:
        for start in range(0, len(bal_ids), 500):
            rows = (await s.execute(select(BalRetention).where(
                BalRetention.bal_id.in_(list(bal_ids[start:start + 500]))))).scalars()
            for r in rows:
                found.setdefault(r.bal_id, {})[r.folder] = r.days
    return found


async def set_own(db: Database, bal_id: int, folder: str, days: int) -> None:
    async with db.write() as s:
        await s.execute(delete(BalRetention).where(BalRetention.bal_id == bal_id,
                                                   BalRetention.folder == folder))
        s.add(BalRetention(bal_id=bal_id, folder=folder, days=days))
