"""The IMAP store's hot operations as units of plain statements.

Owns: the read units `MailboxStore` runs on `Database.reader` (a folder's
index or its changes since a MODSEQ, entry details, bodies, metas, STATUS,
LIST) and the write units it gives the group-commit writer
(`Database.writer`: flag changes, expunges, the `\\Recent` claim, APPEND's
insert). Each is one whole transaction: one hop for the event loop, no ORM
object, rows as tuples of plain values.

Invariants:
- Every unit is scoped by `bal_id`: the folder row is read with
  `id = $folder AND bal_id = $bal` (or by name inside the BAL) before any
  entry or in the statement that reads them (`_folder_with`: the entries
  joined to that folder row only), and entries are read by that folder id
  only (isolation); a folder of another BAL is `FolderError("nonexistent")`.
- A write unit locks its folder row (`FOR UPDATE`; the write lock on
  SQLite) before it reads entries, raises the folder's `highestmodseq` when
  it changes anything, gives each changed entry that MODSEQ, and returns
  the folder's marker for `notify.ChangeNotifier.committed`.
- Write units have no effect outside the database (the writer may run one
  again after a failed batch); the audit events a caller gives a write unit
  (`interfaces.AuditFor`) are inserted in its transaction (R24).
- Contents no entry or queue row references any more are deleted in the
  transaction that orphaned them; the folder's quota usage counters
  (`quota`, R25) move in the transaction that adds or removes its entries.

Ref: RFC 3501 6.3.10 (STATUS), 6.4.3 (EXPUNGE), 6.4.5 (FETCH), 6.4.6
(STORE); RFC 7162 (MODSEQ); RFC 2180 4.1 (expunged meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from .audit_rows import insert_audit
from .folder_ops import FolderError, FolderStatus, lookup_name
from .group_commit import Row, WriteTx
from .interfaces import AuditFor
from .message_ops import (
    AppendResult,
    NewMessage,
    SealedMessage,
    insert_sealed_tx,
)
from .models import DELETED_TERM, UNSEEN_TERM
from .quota import OverQuota, QuotaDefaults, state_of
from .read_pool import as_datetime

CHUNK = 500
FOLDER_COLUMNS = ("id, bal_id, name, uidvalidity, uidnext, special_use, subscribed, "
                  "highestmodseq, recent_uid, used_messages")
_ENTRY_COLUMNS = "e.uid, e.flags, c.size, e.internaldate, e.modseq"
_ENTRY_ROW = (f"SELECT {_ENTRY_COLUMNS} FROM mailbox_entry e "  # noqa: S608 (constants)
              "JOIN message_content c ON c.id = e.content_id WHERE e.folder_id = $1")
Marker = tuple[int, tuple[int, int]]


@dataclass(frozen=True)
class FolderValues:
    """A folder row as plain values (`mailbox.Folder`, what the IMAP engine sees)."""

    id: int
    bal_id: int
    name: str
    uidvalidity: int
    uidnext: int
    special_use: str | None
    subscribed: bool
    highestmodseq: int
    recent_uid: int = 0
    messages: int = 0
    """Its entry count when read: the `used_messages` counter that every write keeps in
    its own transaction (R25), so a count needs no walk of the folder's entries."""

    @classmethod
    def of(cls, row: Row) -> FolderValues:
        return cls(int(row[0]), int(row[1]), row[2], int(row[3]), int(row[4]), row[5],
                   bool(row[6]), int(row[7]), int(row[8]), int(row[9]))

    @property
    def marker(self) -> Marker:
        return self.id, (self.uidnext, self.highestmodseq)


@dataclass(frozen=True)
class EntryValues:
    """What an index row of an entry gives (flags as stored text)."""

    uid: int
    flags: str
    size: int
    internaldate: datetime
    modseq: int


def chunks(items: Sequence[int]) -> Iterator[list[int]]:
    """Bounded IN lists (SQLite and asyncpg cap bound parameters)."""
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])


def marks(first: int, count: int) -> str:
    """`$first, ..., $(first+count-1)`: the placeholders of an IN list."""
    return ", ".join(f"${n}" for n in range(first, first + count))


def _entries(rows: list[Row]) -> list[EntryValues]:
    return [EntryValues(int(r[0]), r[1], int(r[2]), as_datetime(r[3]), int(r[4])) for r in rows]


async def owned_folder(tx: WriteTx, bal_id: int, folder_id: int, *,
                       lock: bool = False) -> FolderValues:
    """The folder `folder_id` if it belongs to `bal_id` (locked with `lock`)."""
    rows = await tx.fetch(f"SELECT {FOLDER_COLUMNS} FROM folder "  # noqa: S608 (constant)
                          "WHERE id = $1 AND bal_id = $2" + (" FOR UPDATE" if lock else ""),
                          folder_id, bal_id)
    if not rows:
        raise FolderError("nonexistent", "no such folder")
    return FolderValues.of(rows[0])


async def owned_folder_unit(bal_id: int, folder_id: int, tx: WriteTx) -> FolderValues:
    """`owned_folder` as a read unit."""
    return await owned_folder(tx, bal_id, folder_id)


_FOLDER_OF_F = ", ".join(f"f.{column}" for column in FOLDER_COLUMNS.split(", "))
_FOLDER_WIDTH = len(FOLDER_COLUMNS.split(", "))
_ENTRY_OF_F = ("LEFT JOIN mailbox_entry e ON e.folder_id = f.id AND {on} "
               "LEFT JOIN message_content c ON c.id = e.content_id")


def folder_with_sql(columns: str, on: str, order: str = "", *, lock: bool = False,
                    folder: bool = True) -> str:
    """The statement of `_folder_with` (`$1` the folder, `$2` the BAL); without the
    folder's columns (`folder=False`), that of `_entries_of`."""
    return (f"SELECT {_FOLDER_OF_F + ', ' if folder else ''}{columns} "  # noqa: S608
            f"FROM folder f {_ENTRY_OF_F.format(on=on)} "
            f"WHERE f.id = $1 AND f.bal_id = $2{order}" + (" FOR UPDATE OF f" if lock else ""))


async def _joined(tx: WriteTx, sql: str, bal_id: int, folder_id: int,
                  args: Sequence[object]) -> list[Row]:
    rows = await tx.fetch(sql, folder_id, bal_id, *args)
    if not rows:
        raise FolderError("nonexistent", "no such folder")
    return rows


async def _folder_with(tx: WriteTx, bal_id: int, folder_id: int, columns: str, on: str,
                       *args: object, lock: bool = False) -> tuple[FolderValues, list[Row]]:
    """The folder `folder_id` if it belongs to `bal_id` (its row locked with `lock`) and
    the `columns` of its entries that match `on` (placeholders from `$3`, `args`),
    joined to their contents: one statement, so a read unit that needs the folder and
    some of its entries is one round trip (`ReadPool.run(single=True)`: no BEGIN and
    COMMIT on PostgreSQL), a write unit saves one, and the folder's check and its
    entries come from the same snapshot. `columns` starts with an entry column never
    NULL for an entry: a row where it is NULL is the folder alone (no entry matched).
    No ORDER BY: on SQLite one by UID would walk the folder by its UID index instead
    of using the index `on` needs; callers sort what they need sorted."""
    rows = await _joined(tx, folder_with_sql(columns, on, lock=lock), bal_id, folder_id, args)
    width = _FOLDER_WIDTH
    return FolderValues.of(rows[0]), [r[width:] for r in rows if r[width] is not None]


async def _entries_of(tx: WriteTx, bal_id: int, folder_id: int, columns: str, on: str,
                      *args: object) -> list[Row]:
    """`_folder_with` for a caller that needs no value of the folder: the same check in
    the same statement, the rows without the folder's columns (a FETCH of 100
    messages would otherwise carry them 100 times)."""
    rows = await _joined(tx, folder_with_sql(columns, on, folder=False), bal_id, folder_id,
                         args)
    return [r for r in rows if r[0] is not None]


async def named_folder(tx: WriteTx, bal_id: int, name: str, *,
                       lock: bool = False) -> FolderValues | None:
    """The folder of the BAL with this name (its stored form), if any."""
    stored = lookup_name(name)
    if stored is None:
        return None
    rows = await tx.fetch(f"SELECT {FOLDER_COLUMNS} FROM folder "  # noqa: S608 (constant)
                          "WHERE bal_id = $1 AND name = $2" + (" FOR UPDATE" if lock else ""),
                          bal_id, stored)
    return FolderValues.of(rows[0]) if rows else None


async def require_named(tx: WriteTx, bal_id: int, name: str, *,
                        lock: bool = False) -> FolderValues:
    folder = await named_folder(tx, bal_id, name, lock=lock)
    if folder is None:
        raise FolderError("nonexistent", "Mailbox does not exist")
    return folder


async def list_folders(bal_id: int, tx: WriteTx) -> list[FolderValues]:
    rows = await tx.fetch(f"SELECT {FOLDER_COLUMNS} FROM folder "  # noqa: S608 (constant)
                          "WHERE bal_id = $1 ORDER BY name", bal_id)
    return [FolderValues.of(r) for r in rows]


async def get_folder(bal_id: int, name: str, tx: WriteTx) -> FolderValues | None:
    return await named_folder(tx, bal_id, name)


@dataclass(frozen=True)
class IndexRead:
    """What `index_read` found: the folder, and either the entries changed since the
    MODSEQ known with the entry count (`changed`), or every entry (`whole`), or
    nothing when the known index is current."""

    folder: FolderValues
    changed: list[tuple[int, str]] | None = None
    count: int = 0
    whole: list[tuple[int, str]] | None = None
    more: bool = False
    """The folder has more entries than the read's `limit`: nothing else was read."""


async def _at_most(tx: WriteTx, sql: str, limit: int | None, *args: object) -> list[Row] | None:
    """The rows of `sql` with `args`, or None when there are more than `limit` of them
    (`limit` None: all of them); `sql` ends with ` LIMIT $n`, its last parameter."""
    if limit is None:
        return await tx.fetch(sql.removesuffix(f" LIMIT ${len(args) + 1}"), *args)
    rows = await tx.fetch(sql, *args, limit + 1)
    return None if len(rows) > limit else rows


async def index_read(bal_id: int, folder_id: int, known: tuple[int, int] | None,
                     tx: WriteTx, *, limit: int | None = None) -> IndexRead:
    """A folder's UIDs and flags: `known` is the (UIDVALIDITY, HIGHESTMODSEQ) of the
    index the process holds, if any; `limit`: at most that many entries read whole
    (`more` when the folder has more)."""
    folder = await owned_folder(tx, bal_id, folder_id)
    if known is not None and known[0] == folder.uidvalidity:
        if known[1] == folder.highestmodseq:
            return IndexRead(folder)
        changed = await tx.fetch("SELECT uid, flags FROM mailbox_entry "
                                 "WHERE folder_id = $1 AND modseq > $2", folder.id, known[1])
        return IndexRead(folder, [(int(r[0]), r[1]) for r in changed], folder.messages)
    rows = await _at_most(tx, "SELECT uid, flags FROM mailbox_entry WHERE folder_id = $1 "
                          "ORDER BY uid LIMIT $2", limit, folder.id)
    if rows is None:
        return IndexRead(folder, more=True)
    return IndexRead(folder, whole=[(int(r[0]), r[1]) for r in rows])


async def changes_since(bal_id: int, folder_id: int, modseq: int,
                        tx: WriteTx) -> tuple[FolderValues, list[EntryValues], int]:
    """The folder, its entries above `modseq` and its entry count: one statement."""
    folder, rows = await _folder_with(tx, bal_id, folder_id, _ENTRY_COLUMNS,
                                      "e.modseq > $3", modseq)
    return folder, sorted(_entries(rows), key=_by_uid), folder.messages


def _by_uid(entry: EntryValues) -> int:
    return entry.uid


def one_statement(uids: Sequence[int]) -> bool:
    """Whether `entry_rows` or `sealed_parts` of these UIDs is one statement (no more
    than one bounded IN list): what `ReadPool.run(single=...)` is told."""
    return len(uids) <= CHUNK


async def folder_entries(bal_id: int, folder_id: int,
                         tx: WriteTx) -> tuple[FolderValues, list[EntryValues]]:
    """The folder and the index rows of all its entries, in UID order."""
    folder = await owned_folder(tx, bal_id, folder_id)
    return folder, _entries(await tx.fetch(_ENTRY_ROW + " ORDER BY e.uid", folder.id))


async def entry_rows(bal_id: int, folder_id: int, uids: Sequence[int],
                     tx: WriteTx) -> list[EntryValues]:
    """Index rows of the entries `uids` still in the folder, in UID order; one statement
    for up to `CHUNK` UIDs."""
    first, *more = _uid_lists(uids)
    rows = await _entries_of(tx, bal_id, folder_id, _ENTRY_COLUMNS, _uid_in(first), *first)
    rows += await _more_entries(tx, _ENTRY_COLUMNS, folder_id, more)
    return sorted(_entries(rows), key=_by_uid)


def _uid_lists(uids: Sequence[int]) -> list[list[int]]:
    """`uids` once each, ascending, in bounded IN lists (one empty list for none): the
    first goes in the statement that checks the folder (`_uid_in`), the others to
    `_more_entries`."""
    return list(chunks(sorted(set(uids)))) or [[]]


def _uid_in(uids: Sequence[int]) -> str:
    """The entries of an IN list from `$3` (none for an empty list)."""
    return f"e.uid IN ({marks(3, len(uids))})" if uids else "0 = 1"


async def _more_entries(tx: WriteTx, columns: str, folder_id: int,
                        lists: Sequence[Sequence[int]]) -> list[Row]:
    """The `columns` of the entries of the IN lists after the first, joined to their
    contents; the folder is the BAL's, checked in this transaction's first statement."""
    rows: list[Row] = []
    for chunk in lists:
        rows += await tx.fetch(
            f"SELECT {columns} FROM mailbox_entry e "  # noqa: S608 (constants)
            "JOIN message_content c ON c.id = e.content_id "
            f"WHERE e.folder_id = $1 AND e.uid IN ({marks(2, len(chunk))})", folder_id, *chunk)
    return rows


async def uids(bal_id: int, folder_id: int, tx: WriteTx, *,
               limit: int | None = None) -> list[int] | None:
    """The folder's UIDs, ascending; None when it has more than `limit` entries."""
    folder = await owned_folder(tx, bal_id, folder_id)
    rows = await _at_most(tx, "SELECT uid FROM mailbox_entry WHERE folder_id = $1 "
                          "ORDER BY uid LIMIT $2", limit, folder.id)
    return None if rows is None else [int(r[0]) for r in rows]


Sealed = tuple[int, str, int, bytes | None]


async def sealed_parts(column: Literal["body", "meta"], bal_id: int, folder_id: int,
                       uids: Sequence[int], tx: WriteTx) -> list[Sealed]:
    """(UID, content id, key version, sealed body or meta) of entries still there; one
    statement for up to `CHUNK` UIDs."""
    first, *more = _uid_lists(uids)
    columns = f"e.uid, c.id, c.key_version, c.{column}"
    rows = await _entries_of(tx, bal_id, folder_id, columns, _uid_in(first), *first)
    rows += await _more_entries(tx, columns, folder_id, more)
    return [(int(r[0]), r[1], int(r[2]), None if r[3] is None else bytes(r[3])) for r in rows]


async def recent_floor(bal_id: int, folder_id: int, tx: WriteTx) -> int:
    return (await owned_folder(tx, bal_id, folder_id)).recent_uid


async def status(bal_id: int, name: str, tx: WriteTx) -> FolderStatus:
    """STATUS counts from the index, without reading any message (RFC 3501 6.3.10;
    DELETED and DELETED-STORAGE, RFC 9208), in one statement with the folder's row.
    MESSAGES is the folder's entry counter; RECENT, UNSEEN, DELETED and the size of
    the deleted read only the entries they count (the UID index above the recent
    floor, the partial indexes of `models`)."""
    stored = lookup_name(name)
    rows = [] if stored is None else await tx.fetch(STATUS_ROW, bal_id, stored)
    if not rows:
        raise FolderError("nonexistent", "Mailbox does not exist")
    folder = FolderValues.of(rows[0])
    recent, unseen, doomed, octets = (int(v) for v in rows[0][_FOLDER_WIDTH:])
    return FolderStatus(folder.messages, recent, folder.uidnext, folder.uidvalidity,
                        unseen, folder.highestmodseq, doomed, octets)


# STATUS: the folder of the BAL `$1` named `$2` (stored form) and its counts.
STATUS_ROW = (
    f"SELECT {_FOLDER_OF_F}, "  # noqa: S608 (constants)
    "(SELECT count(*) FROM mailbox_entry e WHERE e.folder_id = f.id AND e.uid > f.recent_uid), "
    f"(SELECT count(*) FROM mailbox_entry e WHERE e.folder_id = f.id AND e.{UNSEEN_TERM}), "
    f"(SELECT count(*) FROM mailbox_entry e WHERE e.folder_id = f.id AND e.{DELETED_TERM}), "
    "(SELECT COALESCE(SUM(c.size), 0) FROM mailbox_entry e JOIN message_content c "
    f"ON c.id = e.content_id WHERE e.folder_id = f.id AND e.{DELETED_TERM}) "
    "FROM folder f WHERE f.bal_id = $1 AND f.name = $2")


# -- write units (run by the group-commit writer) ------------------------------------------

def parse_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


def render_flags(flags: frozenset[str]) -> str:
    return " ".join(sorted(f for f in flags if f.lower() != "\\recent"))


async def _bump(tx: WriteTx, folder: FolderValues) -> FolderValues:
    """Raise the folder's HIGHESTMODSEQ by one; the folder as it now is."""
    modseq = folder.highestmodseq + 1
    await tx.execute("UPDATE folder SET highestmodseq = $1 WHERE id = $2", modseq, folder.id)
    return replace(folder, highestmodseq=modseq)


_STORED_COLUMNS = "e.id, e.uid, e.flags, c.size, e.internaldate, e.modseq"


async def set_flags(bal_id: int, folder_id: int, uids: Sequence[int], flags: frozenset[str],
                    mode: Literal["add", "remove", "replace"], audit: AuditFor | None,
                    tx: WriteTx) -> tuple[list[EntryValues], FolderValues, FolderValues | None]:
    """STORE: the entries after the change, the folder as found (locked) and as left
    (None when no entry changed). Every changed entry gets the one new MODSEQ of this
    change; `audit`'s events (of the UIDs asked for) go in the same transaction."""
    first, *more = _uid_lists(uids)
    # the folder locked and the first IN list of its entries read: one statement
    folder, rows = await _folder_with(tx, bal_id, folder_id, _STORED_COLUMNS, _uid_in(first),
                                      *first, lock=True)
    rows += await _more_entries(tx, _STORED_COLUMNS, folder.id, more)
    if audit is not None:
        await insert_audit(tx, audit(uids))
    entries = sorted(((int(r[0]), EntryValues(int(r[1]), r[2], int(r[3]), as_datetime(r[4]),
                                              int(r[5]))) for r in rows),
                     key=lambda pair: pair[1].uid)
    modseq = folder.highestmodseq + 1
    out, updates = [], []
    for row_id, e in entries:
        old = parse_flags(e.flags)
        new = old | flags if mode == "add" else old - flags if mode == "remove" else flags
        text = render_flags(new)
        if text != e.flags:
            updates.append((text, modseq, row_id))
            e = EntryValues(e.uid, text, e.size, e.internaldate, modseq)
        out.append(e)
    if not updates:
        return out, folder, None
    await tx.executemany("UPDATE mailbox_entry SET flags = $1, modseq = $2 WHERE id = $3",
                         updates)
    return out, folder, await _bump(tx, folder)


async def drop_orphans(tx: WriteTx, content_ids: Sequence[str]) -> None:
    """Delete the contents among `content_ids` no entry or queue row references."""
    unique = sorted(set(content_ids))
    for start in range(0, len(unique), CHUNK):
        batch = unique[start : start + CHUNK]
        await tx.execute(
            f"DELETE FROM message_content WHERE id IN ({marks(1, len(batch))}) "  # noqa: S608
            "AND NOT EXISTS (SELECT 1 FROM mailbox_entry e "
            "WHERE e.content_id = message_content.id) "
            "AND NOT EXISTS (SELECT 1 FROM outbound_queue q "
            "WHERE q.content_id = message_content.id)", *batch)


async def expunge(bal_id: int, folder_id: int, uids: Sequence[int] | None,
                  audit: AuditFor | None,
                  tx: WriteTx) -> tuple[list[int], FolderValues, FolderValues | None]:
    """EXPUNGE / UID EXPUNGE: the UIDs removed (ascending), the folder as found
    (locked) and as left (None when nothing was removed); `audit`'s events (of the
    UIDs removed) go in the same transaction."""
    # The folder locked and, in the same statement, its entries whose flags mention
    # "\\Deleted" (the partial index); the exact flag is checked here (LIKE ignores case
    # on SQLite).
    folder, rows = await _folder_with(tx, bal_id, folder_id, _DOOMED_COLUMNS, DOOMED_ON,
                                      lock=True)
    wanted = None if uids is None else set(uids)
    doomed = [r for r in rows if "\\Deleted" in parse_flags(r[3])
              and (wanted is None or int(r[1]) in wanted)]
    if not doomed:
        return [], folder, None
    gone = sorted(int(r[1]) for r in doomed)
    if audit is not None:
        await insert_audit(tx, audit(gone))
    for chunk in chunks([int(r[0]) for r in doomed]):
        await tx.execute(f"DELETE FROM mailbox_entry WHERE id IN ({marks(1, len(chunk))})",  # noqa: S608
                         *chunk)
    await drop_orphans(tx, [r[2] for r in doomed])
    after = replace(folder, highestmodseq=folder.highestmodseq + 1,
                    messages=folder.messages - len(doomed))
    await tx.execute("UPDATE folder SET used_bytes = used_bytes - $1, "  # R25 usage
                     "used_messages = used_messages - $2, highestmodseq = $3 WHERE id = $4",
                     sum(int(r[4]) for r in doomed), len(doomed), after.highestmodseq,
                     folder.id)
    return gone, folder, after


_DOOMED_COLUMNS = "e.id, e.uid, e.content_id, e.flags, c.size"
DOOMED_ON = f"e.{DELETED_TERM}"


async def nothing_doomed(bal_id: int, folder_id: int, tx: WriteTx) -> tuple[int, int] | None:
    """A read unit: the folder's marker `(uidnext, highestmodseq)` when the folder is
    the BAL's and no entry of it mentions `\\Deleted` (the partial index of
    `models.DELETED_TERM`), read in the same statement; None when some entry may be
    doomed or the folder is not found (the write unit then says which)."""
    rows = await tx.fetch(_ANY_DOOMED, folder_id, bal_id)
    if not rows or rows[0][0]:
        return None
    return int(rows[0][1]), int(rows[0][2])


_ANY_DOOMED = ("SELECT EXISTS (SELECT 1 FROM mailbox_entry e WHERE e.folder_id = f.id "  # noqa: S608
               f"AND e.{DELETED_TERM}), f.uidnext, f.highestmodseq "
               "FROM folder f WHERE f.id = $1 AND f.bal_id = $2")


async def claim_recent(bal_id: int, folder_id: int, up_to: int, tx: WriteTx) -> int:
    """Move the folder's `\\Recent` floor up to `up_to`; the floor before."""
    return await _raise_recent_floor(tx, await owned_folder(tx, bal_id, folder_id, lock=True),
                                     up_to)


async def _raise_recent_floor(tx: WriteTx, folder: FolderValues, up_to: int) -> int:
    """Move the locked folder's `\\Recent` floor up to `up_to` (never down); the floor
    before (RFC 3501 2.3.2: UIDs above it are recent to whoever moved it)."""
    if up_to > folder.recent_uid:
        await tx.execute("UPDATE folder SET recent_uid = $1 WHERE id = $2", up_to, folder.id)
    return folder.recent_uid


_ROOM = ("SELECT b.quota_bytes, b.quota_messages, "
         "(SELECT COALESCE(SUM(f.used_bytes), 0) FROM folder f WHERE f.bal_id = b.id), "
         "(SELECT COALESCE(SUM(f.used_messages), 0) FROM folder f WHERE f.bal_id = b.id) "
         "FROM bal b WHERE b.id = $1")


async def append(bal_id: int, name: str, items: Sequence[tuple[SealedMessage, NewMessage]],
                 now: datetime, quota: QuotaDefaults, audit: AuditFor | None,
                 claim_for: int | None,
                 tx: WriteTx) -> tuple[AppendResult, FolderValues, FolderValues] | None:
    """APPEND's insert: the folder locked by name (None when the BAL has no such
    folder: nothing written, and no exception to roll back the batch it shares), the
    quota checked (`OverQuota`, RFC 9208, R25: limits and usage in one statement),
    then `insert_sealed_tx`. When the folder is `claim_for` (the one the appending
    session has selected read-write), its `\\Recent` floor moves over the new UIDs in
    the same transaction, and the floor before comes back in the result: the session
    is the first told of them (RFC 3501 2.3.2) without a second write transaction.
    Also the folder as found (locked) and as left."""
    folder = await named_folder(tx, bal_id, name, lock=True)
    if folder is None:
        return None
    room = await tx.fetch(_ROOM, bal_id)
    if room and not state_of(quota, *room[0]).room_for(sum(s.size for s, _ in items),
                                                        len(items)):
        raise OverQuota
    result, state = await insert_sealed_tx(tx, bal_id, folder.id, items, now)
    if audit is not None:
        await insert_audit(tx, audit(result.uids))
    after = replace(folder, uidnext=state.uidnext, highestmodseq=state.highestmodseq,
                    messages=folder.messages + len(result.uids))
    if claim_for == folder.id and result.uids:
        floor = await _raise_recent_floor(tx, folder, max(result.uids))
        result = replace(result, recent_floor=floor)
        after = replace(after, recent_uid=max(floor, *result.uids))
    return result, folder, after
