"""Folder lifecycle inside one BAL as write units of plain statements: CREATE,
DELETE, RENAME, SUBSCRIBE / UNSUBSCRIBE, and the LSUB / LIST (SUBSCRIBED) read.

Owns: the units `MailboxStore` gives the group-commit writer (`Database.writer`)
for these commands, each one whole transaction with no ORM object, like the
message units of `mailbox_sql`. The name rules, `FolderError` and what a
folder may be are `folder_ops`'s.

Invariants:
- every statement is scoped by `bal_id`: a name is a key inside one BAL;
- a refusal (`FolderError`) is returned, not raised, and is found before the
  unit writes anything: a refused command changes nothing and does not make
  the writer run the other units of its batch again;
- a new folder's UIDVALIDITY is above every value the BAL ever gave out,
  recorded in `folder_counter` in the same transaction (RFC 3501 2.3.1.1);
- DELETE removes the folder's entries and, in the same transaction, the
  contents no entry or queue row references any more; it keeps the name's
  subscription (RFC 3501 6.3.4, 6.3.6) and the folder's inferiors;
- renaming INBOX moves its entries, UIDs, `\\Recent` floor and quota usage
  (R25) to the new folder and raises INBOX's HIGHESTMODSEQ (RFC 3501 6.3.5).

Ref: RFC 3501 2.3.1.1, 6.3.3-6.3.9.
"""

from __future__ import annotations

import time

from .folder_ops import DELIMITER, FolderError, canonical_name, lookup_name
from .group_commit import WriteTx
from .mailbox_sql import FolderValues, drop_orphans, named_folder


async def _next_uidvalidity(tx: WriteTx, bal_id: int) -> int:
    """A UIDVALIDITY above any this BAL has used, recorded in `folder_counter`."""
    counter = await tx.fetch("SELECT last_uidvalidity FROM folder_counter "
                             "WHERE bal_id = $1 FOR UPDATE", bal_id)
    highest = await tx.fetch("SELECT MAX(uidvalidity) FROM folder WHERE bal_id = $1", bal_id)
    last = max(int(highest[0][0] or 0), int(counter[0][0]) if counter else 0)
    # RFC 3501 2.3.1.1: a name reused for a new mailbox must get a new, higher UIDVALIDITY.
    value = max(int(time.time()), last + 1)
    if counter:
        await tx.execute("UPDATE folder_counter SET last_uidvalidity = $1 WHERE bal_id = $2",
                         value, bal_id)
    else:
        await tx.execute("INSERT INTO folder_counter (bal_id, last_uidvalidity) "
                         "VALUES ($1, $2)", bal_id, value)
    return value


async def _new_folder(tx: WriteTx, bal_id: int, name: str) -> FolderValues:
    # A subscription kept from a deleted folder of this name becomes the folder's own.
    orphan = await tx.fetch("SELECT 1 FROM folder_subscription WHERE bal_id = $1 AND name = $2",
                            bal_id, name)
    if orphan:
        await tx.execute("DELETE FROM folder_subscription WHERE bal_id = $1 AND name = $2",
                         bal_id, name)
    uidvalidity = await _next_uidvalidity(tx, bal_id)
    rows = await tx.fetch(
        "INSERT INTO folder (bal_id, name, special_use, subscribed, uidvalidity, uidnext, "
        "highestmodseq, recent_uid, used_bytes, used_messages) "
        "VALUES ($1, $2, NULL, $3, $4, 1, 1, 0, 0, 0) RETURNING id",
        bal_id, name, bool(orphan), uidvalidity)
    return FolderValues(int(rows[0][0]), bal_id, name, uidvalidity, 1, None, bool(orphan), 1)


async def create(bal_id: int, name: str, tx: WriteTx) -> FolderValues | FolderError:
    """CREATE one folder (RFC 3501 6.3.3): its superior levels need no row."""
    try:
        name = canonical_name(name)
    except FolderError as refused:
        return refused
    if name == "INBOX" or await named_folder(tx, bal_id, name) is not None:
        return FolderError("exists", "Mailbox already exists")  # RFC 3501 6.3.3: NO
    return await _new_folder(tx, bal_id, name)


async def remove(bal_id: int, name: str, tx: WriteTx) -> None | FolderError:
    """DELETE one folder, its entries and the contents they alone held (RFC 3501 6.3.4)."""
    folder = await named_folder(tx, bal_id, name, lock=True)
    if folder is None:
        return FolderError("nonexistent", "Mailbox does not exist")
    if folder.name == "INBOX":  # RFC 3501 6.3.4: deleting INBOX is an error
        return FolderError("inbox", "INBOX cannot be deleted")
    if folder.subscribed:  # RFC 3501 6.3.6: DELETE does not unsubscribe the name
        await tx.execute("INSERT INTO folder_subscription (bal_id, name) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING", bal_id, folder.name)
    contents = [str(r[0]) for r in await tx.fetch(
        "SELECT content_id FROM mailbox_entry WHERE folder_id = $1", folder.id)]
    await tx.execute("DELETE FROM mailbox_entry WHERE folder_id = $1", folder.id)
    await tx.execute("DELETE FROM folder WHERE id = $1 AND bal_id = $2", folder.id, bal_id)
    await drop_orphans(tx, contents)
    return None


async def subscribe(bal_id: int, name: str, on: bool, tx: WriteTx) -> None | FolderError:
    """SUBSCRIBE (existing folders only) / UNSUBSCRIBE (RFC 3501 6.3.6, 6.3.7)."""
    stored = lookup_name(name)
    folder = await named_folder(tx, bal_id, name)
    orphan = stored is not None and bool(await tx.fetch(
        "SELECT 1 FROM folder_subscription WHERE bal_id = $1 AND name = $2", bal_id, stored))
    # RFC 3501 6.3.7: UNSUBSCRIBE also works for a name whose mailbox was deleted.
    if folder is None and (on or not orphan):
        return FolderError("nonexistent", "Mailbox does not exist")
    if folder is not None and folder.subscribed != on:
        await tx.execute("UPDATE folder SET subscribed = $1 WHERE id = $2", on, folder.id)
    if orphan and not on:
        await tx.execute("DELETE FROM folder_subscription WHERE bal_id = $1 AND name = $2",
                         bal_id, stored)
    return None


async def subscriptions(bal_id: int, tx: WriteTx) -> list[str]:
    """Every subscribed name of the BAL: its subscribed folders and the kept names."""
    rows = await tx.fetch(
        "SELECT name FROM folder WHERE bal_id = $1 AND subscribed "
        "UNION SELECT name FROM folder_subscription WHERE bal_id = $1", bal_id)
    return sorted(str(r[0]) for r in rows)


async def _move_inbox(tx: WriteTx, inbox: FolderValues, target: FolderValues) -> None:
    """Every entry of INBOX to the new `target`, keeping UIDs; INBOX is left empty."""
    counters = await tx.fetch("SELECT uidnext, recent_uid, used_bytes, used_messages "
                              "FROM folder WHERE id = $1 FOR UPDATE", inbox.id)
    uidnext, recent_uid, used_bytes, used_messages = (int(v) for v in counters[0])
    await tx.execute("UPDATE mailbox_entry SET folder_id = $1 WHERE folder_id = $2",
                     target.id, inbox.id)
    # R25: the quota usage goes with the entries (the BAL's total is unchanged).
    await tx.execute("UPDATE folder SET uidnext = $1, recent_uid = $2, used_bytes = $3, "
                     "used_messages = $4 WHERE id = $5",
                     uidnext, recent_uid, used_bytes, used_messages, target.id)
    await tx.execute("UPDATE folder SET used_bytes = 0, used_messages = 0, "
                     "highestmodseq = highestmodseq + 1 WHERE id = $1", inbox.id)


async def rename(bal_id: int, old: str, new: str, tx: WriteTx) -> None | FolderError:
    """RENAME a folder and its inferiors, or INBOX's messages (RFC 3501 6.3.5)."""
    try:
        old, new = canonical_name(old), canonical_name(new)
    except FolderError as refused:
        return refused
    names = {str(r[0]) for r in await tx.fetch("SELECT name FROM folder WHERE bal_id = $1",
                                               bal_id)}
    if new == "INBOX" or new in names:
        return FolderError("exists", "Target mailbox already exists")
    if old == "INBOX":  # RFC 3501 6.3.5: renaming INBOX moves its messages, INBOX stays
        inbox = await named_folder(tx, bal_id, old)  # locked by `_move_inbox`
        if inbox is None:
            return FolderError("nonexistent", "Mailbox does not exist")
        await _move_inbox(tx, inbox, await _new_folder(tx, bal_id, new))
        return None
    # RFC 3501 6.3.5: inferior hierarchical names are renamed too.
    moving = sorted(n for n in names if n == old or n.startswith(old + DELIMITER))
    if not moving:
        return FolderError("nonexistent", "Mailbox does not exist")
    if new.startswith(old + DELIMITER) or any(new + n[len(old):] in names for n in moving):
        return FolderError("invalid", "Cannot rename a mailbox into itself or over another")
    for name in moving:
        await tx.execute("UPDATE folder SET name = $1 WHERE bal_id = $2 AND name = $3",
                         new + name[len(old):], bal_id, name)
    return None
