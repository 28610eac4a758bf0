"""The folder index SELECT reads (`MailboxStore.index`) against a real database:
kept per process, it still matches the folder after every kind of change, made
through this store or through another one (another process) that this store's
cache never heard of.

Ref: RFC 7162 3.1 (every change raises MODSEQ); RFC 3501 6.3.1.
"""

from __future__ import annotations

import pytest

from imap_store.store.folder_index import IndexCache
from imap_store.store.folder_ops import FolderError
from imap_store.store.mailbox import MailboxStore, NewMessage
from imap_store.store.notify import ChangeNotifier
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, is_postgres


async def _truth(store: MailboxStore, bal_id: int, folder_id: int) -> list[tuple[int, frozenset]]:
    _, rows = await store.snapshot(bal_id, folder_id)
    return [(r.uid, r.flags) for r in rows]


async def test_index_follows_changes_made_here_and_elsewhere(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    services = operator.running.services  # type: ignore[union-attr]
    bal_id = operator.bals[bob].bal_id
    cache = IndexCache(min_entries=1)
    here = MailboxStore(services.db, services.keys, ChangeNotifier(), cache)
    elsewhere = MailboxStore(services.db, services.keys, ChangeNotifier(), IndexCache())
    msgs = [NewMessage(simple_message(bob, bob, f"m{i}")) for i in range(5)]
    await here.append(bal_id, "INBOX", msgs)
    folder = await here.get_folder(bal_id, "INBOX")
    assert folder is not None

    async def check() -> None:
        _, index = await here.index(bal_id, folder.id)
        assert list(zip(index.uids, index.flags, strict=True)) == await _truth(
            elsewhere, bal_id, folder.id)

    await check()
    first = cache.get(folder.id)
    await check()
    assert cache.get(folder.id) is first  # unchanged folder: the same index, nothing re-read
    await elsewhere.set_flags(bal_id, folder.id, [2, 4], frozenset({"\\Seen", "$Work"}), "add")
    await check()
    await elsewhere.append(bal_id, "INBOX", msgs[:2])
    await check()
    await elsewhere.set_flags(bal_id, folder.id, [1, 3], frozenset({"\\Deleted"}), "add")
    assert await elsewhere.expunge(bal_id, folder.id) == [1, 3]
    await check()
    await elsewhere.copy(bal_id, folder.id, [2], "INBOX")
    await check()
    await services.mailbox.create_folder(bal_id, "Archives")
    await elsewhere.copy(bal_id, folder.id, [4, 5], "Archives", move=True)
    await check()
    _, index = await here.index(bal_id, folder.id)
    assert index.uids == [2, 6, 7, 8]


async def test_details_are_scoped_to_the_bal(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    store = operator.running.services.mailbox  # type: ignore[union-attr]
    a_id, b_id = operator.bals[alice].bal_id, operator.bals[bob].bal_id
    await store.append(b_id, "INBOX", [NewMessage(simple_message(bob, bob))])
    folder = await store.get_folder(b_id, "INBOX")
    assert folder is not None
    rows = await store.details(b_id, folder.id, [1])
    assert rows[1].size > 0 and rows[1].uid == 1
    with pytest.raises(FolderError):
        await store.details(a_id, folder.id, [1])
    with pytest.raises(FolderError):
        await store.index(a_id, folder.id)


async def test_a_folder_above_the_inline_bound_is_read_whole_in_a_pool_thread(
        operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index and UID reads of a folder with more entries than `read_pool.INLINE_ROWS`
    leave the event loop (SQLite); below it they stay; both give the whole folder."""
    from imap_store.store import read_pool

    bob = await operator.add_bal("bob")
    services = operator.running.services  # type: ignore[union-attr]
    bal_id = operator.bals[bob].bal_id
    store = MailboxStore(services.db, services.keys, ChangeNotifier(), IndexCache())
    await store.append(bal_id, "INBOX", [NewMessage(simple_message(bob, bob, f"m{i}"))
                                         for i in range(4)])
    folder = await store.get_folder(bal_id, "INBOX")
    assert folder is not None
    reader = services.db.reader
    for bound, hops in ((4, 0), (3, 0 if is_postgres() else 2)):
        monkeypatch.setattr(read_pool, "INLINE_ROWS", bound)
        before = reader.hops
        _, index = await store.index(bal_id, folder.id)
        assert index.uids == [1, 2, 3, 4]
        assert await store.uids(bal_id, folder.id) == [1, 2, 3, 4]
        assert reader.hops - before == hops

