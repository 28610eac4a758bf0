"""Writing messages into folders: the one sealing and insert path, COPY, MOVE.

Owns: `NewMessage`, `AppendResult`, `CopyResult`, `SealedMessage`; `seal_all`
(meta computed and every copy sealed; `seal_off_loop` runs it in a worker
thread for a large message), `locked_folder` / `locked_inboxes` (folder rows locked for
UID allocation), `insert_sealed` (the insert of new folder entries in a
session, IMAP APPEND, allocating UIDs and MODSEQ with the allocator
`_allocate`), its twin `insert_sealed_tx` with the allocator `allocate_tx`
(the same rows and the same allocation rule as plain statements in a
group-commit writer transaction, `group_commit.WriteTx`: IMAP APPEND's unit
and, with `lock_inboxes_tx`, `content_values` and `entry_values`, SMTP
delivery), and the session-level COPY/MOVE helpers.

Invariants:
- Sealing needs no session and no lock: the caller reads the data key first
  and seals before its write transaction opens, so that transaction only
  inserts. A content records the key version it was sealed with and is read
  back with that version, so a key created between the read and the write
  would not make it unreadable. After a rotation (`DataKeys.rotate`) made by
  another process, a content may still be sealed with the previous version
  for up to the key watch's interval (1 s); it stays readable, and every
  content sealed after that uses the new version.
- all the messages of one call are written in ONE transaction (MULTIAPPEND
  is all or nothing, RFC 3502 6); UIDs are allocated from `folder.uidnext`
  on the folder row locked in that transaction (`SELECT ... FOR UPDATE` in a
  session; in a writer transaction the `UPDATE ... RETURNING` of
  `allocate_tx`, which locks, allocates and reads back in one statement; the
  write lock on SQLite), ascending in the order given, so they are unique
  and strictly ascending per folder under concurrent writers; deliveries
  that share a group-commit transaction each read the row as the previous
  one left it, so the rule holds within a batch too;
- a body is sealed with AAD (BAL id, content id, key version) and its meta
  with the content id suffixed `:meta`, so neither can be swapped for the
  other or moved to another row or BAL; subject and addresses exist only in
  these ciphertexts; a content is inserted only into a folder of the BAL
  whose key sealed it;
- COPY shares the content row (same BAL), keeps flags and internal date;
  MOVE is COPY plus removal of the source entries in the same transaction;
  when one of the messages is gone, nothing is copied (`MessagesGone`);
- the folder's quota usage counters (`quota`, R25) move in the same
  transaction and on the same locked row as its UID allocator: on delivery
  in the very UPDATE of `uidnext` (no extra statement); a COPY beyond the
  BAL's quota raises `OverQuota` before anything is written, a MOVE adds
  nothing and is not checked;
- `\\Recent` is never stored: it derives from `folder.recent_uid`;
- internal dates are stored in UTC (SQLite keeps no zone): the instant given
  to APPEND is kept, its zone is not (RFC 3501 6.3.11 asks for the date).

Ref: RFC 3501 6.3.11 (APPEND), 6.4.7 (COPY); RFC 3502 (MULTIAPPEND);
RFC 4315 (APPENDUID, COPYUID); RFC 6851 (MOVE); RFC 7162 (MODSEQ).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from message.meta import MessageMeta, compute_meta
from message.meta_codec import encode_meta

from .content_write import add_contents, insert_contents
from .crypto import DataKey
from .folder_ops import FolderError, lookup_name
from .group_commit import WriteTx
from .models import Folder as FolderRow
from .models import MailboxEntry, MessageContent
from .offload import by_size
from .quota import NO_QUOTA, QuotaDefaults, check_room, moved

META_SUFFIX = ":meta"


class MessagesGone(LookupError):
    """Some messages of a COPY or MOVE were expunged meanwhile (nothing done)."""


@dataclass(frozen=True)
class NewMessage:
    """One message to APPEND: its octets, flags and internal date."""

    raw: bytes
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None
    meta: MessageMeta | None = None
    """Its meta, when the caller parsed it already (`meta.depth_and_meta`)."""


@dataclass(frozen=True)
class AppendResult:
    """APPENDUID data (RFC 4315 3)."""

    uidvalidity: int
    uids: tuple[int, ...]
    recent_floor: int | None = None
    """With `claim_for` (the appending session's selected folder): the folder's
    `\\Recent` floor before the APPEND moved it over the new UIDs (RFC 3501 2.3.2)."""


@dataclass(frozen=True)
class CopyResult:
    """COPYUID data (RFC 4315 3): source UIDs and the UIDs they got."""

    uidvalidity: int
    source_uids: tuple[int, ...]
    target_uids: tuple[int, ...]
    content_ids: tuple[str, ...] = field(default=(), compare=False)
    size: int = field(default=0, compare=False)
    """The RFC822.SIZE sum of the copied entries (quota usage, R25)."""


@dataclass(frozen=True)
class ToSeal:
    """One copy to seal: its octets, the key of the BAL that will hold it, and
    whether it gets a meta (folder entries do; queued copies do not)."""

    key: DataKey
    raw: bytes
    with_meta: bool = True
    meta: MessageMeta | None = None
    """The meta of `raw` when the caller has it already (APPEND parsed it)."""


@dataclass(frozen=True)
class SealedMessage:
    """A message encrypted and ready to insert."""

    content_id: str
    bal_id: int
    key_version: int
    size: int
    body: bytes
    meta: bytes | None


def new_content_id() -> str:
    return secrets.token_hex(16)


def seal_message(key: DataKey, raw: bytes, meta: bytes | None) -> SealedMessage:
    """Encrypt a message and its encoded meta with `key`, under a new content id."""
    cid = new_content_id()
    sealed_meta = key.seal(cid + META_SUFFIX, meta) if meta is not None else None
    return SealedMessage(cid, key.bal_id, key.version, len(raw), key.seal(cid, raw),
                         sealed_meta)


def seal_all(items: Sequence[ToSeal]) -> list[SealedMessage]:
    """Seal every copy; the meta of each distinct message is computed once."""
    metas: dict[int, bytes] = {}
    out = []
    for item in items:
        meta = None
        if item.with_meta:
            if id(item.raw) not in metas:
                meta_value = item.meta if item.meta is not None else compute_meta(item.raw)
                metas[id(item.raw)] = encode_meta(meta_value)
            meta = metas[id(item.raw)]
        out.append(seal_message(item.key, item.raw, meta))
    return out


async def seal_off_loop(items: Sequence[ToSeal]) -> list[SealedMessage]:
    """`seal_all`, in a worker thread for large messages: parsing and AES-GCM of a
    large message stay off the event loop (`offload.by_size`)."""
    return await by_size(sum(len(item.raw) for item in items), seal_all, items)


async def locked_folder(s: AsyncSession, bal_id: int, name: str) -> FolderRow:
    """The folder `name` of the BAL, its row locked for this transaction."""
    stored = lookup_name(name)
    row = None if stored is None else (await s.execute(
        select(FolderRow).where(FolderRow.bal_id == bal_id, FolderRow.name == stored)
        .with_for_update().execution_options(populate_existing=True))).scalar_one_or_none()
    if row is None:
        raise FolderError("nonexistent", "Mailbox does not exist")
    return row


async def locked_inboxes(s: AsyncSession, bal_ids: Iterable[int]) -> dict[int, FolderRow]:
    """The INBOX rows of these BALs, locked in folder id order (no lock cycles)."""
    wanted = set(bal_ids)
    rows = (await s.execute(
        select(FolderRow).where(FolderRow.bal_id.in_(wanted), FolderRow.name == "INBOX")
        .order_by(FolderRow.id).with_for_update()
        .execution_options(populate_existing=True))).scalars().all()
    found = {r.bal_id: r for r in rows}
    if set(found) != wanted:
        raise LookupError("a recipient BAL has no INBOX")
    return found


def folder_marker(row: FolderRow) -> tuple[int, tuple[int, int]]:
    """A folder row's id and change marker `(uidnext, highestmodseq)`, which every
    write moves (`_allocate`, flag changes, removals); see `notify.py`."""
    return row.id, (row.uidnext, row.highestmodseq)


def _allocate(folder: FolderRow, count: int) -> tuple[list[int], int]:
    first = folder.uidnext
    folder.uidnext += count
    folder.highestmodseq += 1
    return list(range(first, first + count)), folder.highestmodseq


def content_row(sealed: SealedMessage, now: datetime, mss_nil: str | None) -> MessageContent:
    """The `message_content` row of a sealed message."""
    return MessageContent(id=sealed.content_id, bal_id=sealed.bal_id,
                          key_version=sealed.key_version, size=sealed.size, body=sealed.body,
                          meta=sealed.meta, mss_nil=mss_nil, received_at=now)


async def insert_sealed(s: AsyncSession, folder: FolderRow,
                        items: Sequence[tuple[SealedMessage, NewMessage]],
                        now: datetime, mss_nil: str | None = None) -> AppendResult:
    """Insert sealed messages as new entries of `folder` (its row locked by the caller)."""
    if any(sealed.bal_id != folder.bal_id for sealed, _ in items):
        raise ValueError("a message sealed for another BAL cannot enter this folder")
    uids, modseq = _allocate(folder, len(items))
    moved(folder, sum(sealed.size for sealed, _ in items), len(items))  # R25 usage
    await add_contents(s, [content_row(sealed, now, mss_nil) for sealed, _ in items])
    s.add_all([MailboxEntry(folder_id=folder.id, uid=uid, content_id=sealed.content_id,
                            flags=" ".join(sorted(message.flags)),
                            internaldate=(message.internaldate or now).astimezone(UTC),
                            modseq=modseq)
               for uid, (sealed, message) in zip(uids, items, strict=True)])
    await s.flush()
    return AppendResult(folder.uidvalidity, tuple(uids))


@dataclass
class FolderState:
    """A folder row as plain values, locked in the caller's writer transaction."""

    id: int
    bal_id: int
    uidvalidity: int
    uidnext: int
    highestmodseq: int


CONTENT_INSERT = ("INSERT INTO message_content (id, bal_id, key_version, size, body, mss_nil, "
                  "received_at, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
ENTRY_INSERT = ("INSERT INTO mailbox_entry (folder_id, uid, content_id, flags, internaldate, "
                "modseq) VALUES ($1, $2, $3, $4, $5, $6)")


_ALLOCATE = ("UPDATE folder SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1, "
             "used_bytes = used_bytes + $3, used_messages = used_messages + $2 "
             "WHERE bal_id = $1 AND {where} "
             "RETURNING id, bal_id, uidvalidity, uidnext, highestmodseq")
_ALLOCATE_IN = _ALLOCATE.format(where="id = $4")
_ALLOCATE_INBOX = _ALLOCATE.format(where="name = 'INBOX'")


async def lock_inboxes_tx(tx: WriteTx, bal_ids: Iterable[int]) -> None:
    """Lock the INBOX rows of several BALs in folder id order (no lock cycles between
    deliveries to several BALs), before `allocate_tx` updates them one by one."""
    wanted = sorted(set(bal_ids))
    marks = ", ".join(f"${n}" for n in range(1, len(wanted) + 1))
    sql = ("SELECT id FROM folder "  # noqa: S608 ($n placeholders only)
           f"WHERE name = 'INBOX' AND bal_id IN ({marks}) ORDER BY id FOR UPDATE")
    await tx.fetch(sql, *wanted)


async def allocate_tx(tx: WriteTx, bal_id: int, folder_id: int | None, count: int,
                      size: int) -> tuple[FolderState, list[int]]:
    """The UID allocator of a writer transaction: ONE statement locks the folder row
    (`folder_id`, or the BAL's INBOX with None), takes `count` UIDs from `uidnext`,
    raises `highestmodseq` by one (the MODSEQ of the new entries) and adds `size`
    octets and `count` messages to its quota usage (R25); the folder as it now is
    and the UIDs, ascending. Deliveries that share a batch each see the row as the
    previous one left it; on PostgreSQL a concurrent writer's increment is re-read
    once its lock is released (READ COMMITTED re-evaluates `uidnext + $2` on the
    row's newest version)."""
    if folder_id is None:
        rows = await tx.fetch(_ALLOCATE_INBOX, bal_id, count, size)
    else:
        rows = await tx.fetch(_ALLOCATE_IN, bal_id, count, size, folder_id)
    if not rows:
        raise LookupError("no such folder in this BAL")
    folder = FolderState(*(int(v) for v in rows[0]))
    return folder, list(range(folder.uidnext - count, folder.uidnext))


def state_marker(folder: FolderState) -> tuple[int, tuple[int, int]]:
    """`folder_marker` of a `FolderState`."""
    return folder.id, (folder.uidnext, folder.highestmodseq)


def content_values(sealed: SealedMessage, now: datetime,
                   mss_nil: str | None) -> tuple[object, ...]:
    """The `message_content` row of a sealed message, as `CONTENT_INSERT` parameters."""
    return (sealed.content_id, sealed.bal_id, sealed.key_version, sealed.size, sealed.body,
            mss_nil, now, sealed.meta)


def entry_values(folder: FolderState, uids: Sequence[int],
                 items: Sequence[tuple[SealedMessage, NewMessage]],
                 now: datetime) -> list[tuple[object, ...]]:
    """The `mailbox_entry` rows of `items` given `uids` by `allocate_tx`, as
    `ENTRY_INSERT` parameters (MODSEQ: the folder's new `highestmodseq`)."""
    return [(folder.id, uid, sealed.content_id, " ".join(sorted(message.flags)),
             (message.internaldate or now).astimezone(UTC), folder.highestmodseq)
            for uid, (sealed, message) in zip(uids, items, strict=True)]


async def insert_sealed_tx(tx: WriteTx, bal_id: int, folder_id: int | None,
                           items: Sequence[tuple[SealedMessage, NewMessage]],
                           now: datetime, mss_nil: str | None = None,
                           ) -> tuple[AppendResult, FolderState]:
    """`insert_sealed` in a writer transaction, into `folder_id` of `bal_id` (None: its
    INBOX): the same rows, UIDs and MODSEQ from the same allocation rule
    (`allocate_tx`), without ORM objects; the folder as it now is."""
    if any(sealed.bal_id != bal_id for sealed, _ in items):
        raise ValueError("a message sealed for another BAL cannot enter this folder")
    folder, uids = await allocate_tx(tx, bal_id, folder_id, len(items),
                                     sum(sealed.size for sealed, _ in items))
    await insert_contents(tx, CONTENT_INSERT, [content_values(sealed, now, mss_nil)
                                               for sealed, _ in items])
    await tx.executemany(ENTRY_INSERT, entry_values(folder, uids, items, now))
    return AppendResult(folder.uidvalidity, tuple(uids)), folder


async def copy_entries(s: AsyncSession, source: FolderRow, uids: Sequence[int],
                       target: FolderRow, quota: QuotaDefaults = NO_QUOTA, *,
                       move: bool = False) -> CopyResult:
    """Copy the entries `uids` of `source` into `target` (sharing contents); a COPY
    beyond the BAL's quota raises `OverQuota` before anything is written."""
    found = (await s.execute(select(MailboxEntry, MessageContent.size).join(
        MessageContent, MessageContent.id == MailboxEntry.content_id).where(
        MailboxEntry.folder_id == source.id, MailboxEntry.uid.in_(list(uids)))
        .order_by(MailboxEntry.uid))).all()
    entries = [row[0] for row in found]
    if len(entries) != len(set(uids)):
        raise MessagesGone("some messages were expunged meanwhile")
    size = sum(int(row[1]) for row in found)
    if not move:  # R25: a MOVE inside the BAL adds nothing; a COPY adds its entries
        await check_room(s, target.bal_id, quota, size, len(entries))
    new_uids, modseq = _allocate(target, len(entries))
    moved(target, size, len(entries))
    for uid, entry in zip(new_uids, entries, strict=True):
        s.add(MailboxEntry(folder_id=target.id, uid=uid, content_id=entry.content_id,
                           flags=entry.flags, internaldate=entry.internaldate, modseq=modseq))
    return CopyResult(target.uidvalidity, tuple(e.uid for e in entries), tuple(new_uids),
                      tuple(e.content_id for e in entries), size)


async def remove_entries(s: AsyncSession, folder: FolderRow, uids: Sequence[int],
                         size: int) -> None:
    """Drop entries of `folder` (MOVE's second half, `size` their octets); contents stay
    referenced."""
    await s.execute(delete(MailboxEntry).where(
        MailboxEntry.folder_id == folder.id, MailboxEntry.uid.in_(list(uids))))
    moved(folder, -size, -len(uids))  # R25 usage
    folder.highestmodseq += 1
