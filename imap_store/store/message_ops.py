"""Writing messages into folders: APPEND (one or many), COPY and MOVE.

Owns: `NewMessage`, `AppendResult`, `CopyResult`, `seal_message` (body and
meta sealed with the BAL's current data key) and the session-level helpers
`MailboxStore` runs inside its write transactions.

Invariants:
- all the messages of one call are written in ONE transaction (MULTIAPPEND
  is all or nothing, RFC 3502 6); UIDs are allocated from `folder.uidnext` in
  the same transaction, ascending in the order given;
- a body is sealed with AAD (BAL id, content id, key version) and its meta
  with the content id suffixed `:meta`, so neither can be swapped for the
  other or moved to another row or BAL; subject and addresses exist only in
  these ciphertexts;
- COPY shares the content row (same BAL), keeps flags and internal date;
  MOVE is COPY plus removal of the source entries in the same transaction;
  when one of the messages is gone, nothing is copied (`MessagesGone`);
- `\\Recent` is never stored: it derives from `folder.recent_uid`;
- internal dates are stored in UTC (SQLite keeps no zone): the instant given
  to APPEND is kept, its zone is not (RFC 3501 6.3.11 asks for the date).

Ref: RFC 3501 6.3.11 (APPEND), 6.4.7 (COPY); RFC 3502 (MULTIAPPEND);
RFC 4315 (APPENDUID, COPYUID); RFC 6851 (MOVE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from message.meta import compute_meta
from message.meta_codec import encode_meta

from .crypto import DataKey
from .models import Folder as FolderRow
from .models import MailboxEntry, MessageContent

META_SUFFIX = ":meta"


class MessagesGone(LookupError):
    """Some messages of a COPY or MOVE were expunged meanwhile (nothing done)."""


@dataclass(frozen=True)
class NewMessage:
    """One message to APPEND: its octets, flags and internal date."""

    raw: bytes
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    """APPENDUID data (RFC 4315 3)."""

    uidvalidity: int
    uids: tuple[int, ...]


@dataclass(frozen=True)
class CopyResult:
    """COPYUID data (RFC 4315 3): source UIDs and the UIDs they got."""

    uidvalidity: int
    source_uids: tuple[int, ...]
    target_uids: tuple[int, ...]
    content_ids: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class SealedMessage:
    """A message encrypted and ready to insert."""

    content_id: str
    key_version: int
    size: int
    body: bytes
    meta: bytes


def seal_message(key: DataKey, content_id: str, raw: bytes) -> SealedMessage:
    """Encrypt a message and its computed meta (CPU work, done before the write)."""
    meta = key.seal(content_id + META_SUFFIX, encode_meta(compute_meta(raw)))
    return SealedMessage(content_id, key.version, len(raw), key.seal(content_id, raw), meta)


def _allocate(folder: FolderRow, count: int) -> tuple[list[int], int]:
    first = folder.uidnext
    folder.uidnext += count
    folder.highestmodseq += 1
    return list(range(first, first + count)), folder.highestmodseq


async def insert_sealed(s: AsyncSession, bal_id: int, folder: FolderRow,
                        items: Sequence[tuple[SealedMessage, NewMessage]],
                        now: datetime) -> AppendResult:
    """Insert sealed messages as new entries of `folder`."""
    uids, modseq = _allocate(folder, len(items))
    s.add_all([MessageContent(id=sealed.content_id, bal_id=bal_id,
                              key_version=sealed.key_version, size=sealed.size, body=sealed.body,
                              meta=sealed.meta, mss_nil=None, received_at=now)
               for sealed, _ in items])
    await s.flush()
    for uid, (sealed, message) in zip(uids, items, strict=True):
        s.add(MailboxEntry(folder_id=folder.id, uid=uid, content_id=sealed.content_id,
                           flags=" ".join(sorted(message.flags)),
                           internaldate=(message.internaldate or now).astimezone(UTC),
                           modseq=modseq))
    return AppendResult(folder.uidvalidity, tuple(uids))


async def copy_entries(s: AsyncSession, source: FolderRow, uids: Sequence[int],
                       target: FolderRow) -> CopyResult:
    """Copy the entries `uids` of `source` into `target` (sharing contents)."""
    entries = (await s.execute(select(MailboxEntry).where(
        MailboxEntry.folder_id == source.id, MailboxEntry.uid.in_(list(uids)))
        .order_by(MailboxEntry.uid))).scalars().all()
    if len(entries) != len(set(uids)):
        raise MessagesGone("some messages were expunged meanwhile")
    new_uids, modseq = _allocate(target, len(entries))
    for uid, entry in zip(new_uids, entries, strict=True):
        s.add(MailboxEntry(folder_id=target.id, uid=uid, content_id=entry.content_id,
                           flags=entry.flags, internaldate=entry.internaldate, modseq=modseq))
    return CopyResult(target.uidvalidity, tuple(e.uid for e in entries), tuple(new_uids),
                      tuple(e.content_id for e in entries))


async def remove_entries(s: AsyncSession, folder: FolderRow, uids: Sequence[int]) -> None:
    """Drop entries of `folder` (MOVE's second half); contents stay referenced."""
    await s.execute(delete(MailboxEntry).where(
        MailboxEntry.folder_id == folder.id, MailboxEntry.uid.in_(list(uids))))
    folder.highestmodseq += 1
