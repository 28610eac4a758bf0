"""The folder index SELECT starts from: catching up by MODSEQ, the bounded cache,
and the view built over it (flags from the index, other fields read on demand)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import pytest

from imap_store.imap.message_loader import MessageLoader
from imap_store.imap.view import MailboxView
from imap_store.store.folder_index import FlagTexts, FolderIndex, IndexCache
from imap_store.store.mailbox import Folder, MessageRow

SEEN, NONE = frozenset({"\\Seen"}), frozenset[str]()
FOLDER = Folder(7, 1, "INBOX", 77, 6, None, True, 9)
WHEN = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def index(uids: Sequence[int], flags: Sequence[frozenset[str]], modseq: int = 9,
          folder_id: int = 7) -> FolderIndex:
    return FolderIndex(folder_id, 77, modseq, list(uids), list(flags))


def test_advanced_applies_arrivals_and_flag_changes() -> None:
    base = index([1, 2, 3], [NONE, NONE, SEEN])
    new = base.advanced(77, 12, [(4, NONE), (2, SEEN)], count=4)
    assert new is not None
    assert (new.uids, new.flags, new.highestmodseq) == ([1, 2, 3, 4], [NONE, SEEN, SEEN, NONE], 12)
    assert base.uids == [1, 2, 3] and base.flags[1] == NONE  # shared: never changed


def test_advanced_refuses_what_it_cannot_place() -> None:
    base = index([1, 3, 5], [NONE] * 3)
    assert base.advanced(77, 10, [], count=2) is None  # an expunge: which UID is not known
    assert base.advanced(77, 10, [(2, NONE)], count=4) is None  # a UID it never had


def test_cache_is_bounded_and_skips_small_folders() -> None:
    cache = IndexCache(max_folders=2, min_entries=2)
    cache.put(index([1], [NONE], folder_id=1))
    assert cache.get(1) is None
    for fid in (2, 3):
        cache.put(index([1, 2], [NONE, NONE], folder_id=fid))
    assert cache.get(2) is not None  # now the most recently used
    cache.put(index([1, 2], [NONE, NONE], folder_id=4))
    assert cache.get(3) is None and cache.get(2) is not None and cache.get(4) is not None


def test_flag_texts_share_one_set_per_text() -> None:
    texts = FlagTexts()
    assert texts.parse("\\Seen $Label1") is texts.parse("\\Seen $Label1")
    assert texts.parse("") == NONE


async def test_view_over_an_index_reads_details_on_demand() -> None:
    asked: list[list[int]] = []

    async def details(uids: Sequence[int]) -> dict[int, MessageRow]:
        asked.append(list(uids))
        return {u: MessageRow(u, SEEN, 100 + u, WHEN, 50 + u) for u in uids}

    base = index([1, 2, 5], [SEEN, NONE, frozenset({"$Work"})])
    view = MailboxView.from_index(1, FOLDER, base, read_only=False, version=0,
                                  details=details, recent_floor=2)
    assert view.first_unseen() == 2
    assert view.recent == {5}
    assert view.keywords == frozenset({"$Work"})
    assert view.rows[2].flags == NONE
    with pytest.raises(LookupError):
        _ = view.rows[2].size
    await view.load_details([2, 5])
    assert asked == [[2, 5]]
    # size, date and MODSEQ from the details, flags still the view's own
    assert (view.rows[2].size, view.rows[2].modseq, view.rows[2].flags) == (102, 52, NONE)
    await view.load_details([2, 5])
    assert asked == [[2, 5]]  # nothing read twice
    assert 4 not in view.rows and 5 in view.rows
    del view.rows[5]
    assert 5 not in view.rows
    with pytest.raises(KeyError):
        _ = view.rows[5]


def test_first_unseen_after_changes_over_the_index() -> None:
    async def details(uids: Sequence[int]) -> dict[int, MessageRow]:
        return {}

    view = MailboxView.from_index(1, FOLDER, index([1, 2], [SEEN, NONE]), read_only=False,
                                  version=0, details=details)
    view.apply_rows([MessageRow(2, SEEN, 1, WHEN, 10)])
    assert view.first_unseen() is None


async def test_loader_reads_details_a_batch_ahead_and_skips_what_is_gone() -> None:
    asked: list[list[int]] = []

    async def details(uids: Sequence[int]) -> dict[int, MessageRow]:
        asked.append(list(uids))  # UID 2 was expunged by another session meanwhile
        return {u: MessageRow(u, NONE, 10 * u, WHEN, u) for u in uids if u != 2}

    view = MailboxView.from_index(1, FOLDER, index([1, 2, 3], [NONE] * 3), read_only=False,
                                  version=0, details=details)
    loader = MessageLoader(cast(Any, None), view, [1, 2, 3], "none")
    assert await loader.load(1) is not None
    assert await loader.load(2) is None
    assert await loader.load(3) is not None
    assert asked == [[1, 2, 3]]
    assert view.rows[3].size == 30
