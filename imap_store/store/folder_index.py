"""A folder's UIDs and flags, read once per process and brought up to date by MODSEQ.

Owns: `FolderIndex` (the ascending UIDs of a folder and the flags of each, as
of one HIGHESTMODSEQ) and `IndexCache`, the process's bounded table of them,
which SELECT and EXAMINE read instead of every entry of the folder.

Invariants:
- an index is immutable once built: sessions share it and keep it as the base
  of their view; a newer state is a new index;
- an index taken at (UIDVALIDITY, HIGHESTMODSEQ) describes the folder exactly
  while both are unchanged: every flag change, expunge, append, copy and move
  raises the folder's HIGHESTMODSEQ in its transaction (`mailbox`,
  `message_ops`); a newer state is reached from the entries whose MODSEQ is
  above the index's (RFC 7162 3.1.2) and, when the folder's entry count then
  disagrees (an expunge leaves no row behind), by reading the folder again;
- flags are shared frozensets, one per distinct stored flags text, so an index
  costs a list of UIDs and a list of references;
- the cache holds at most `MAX_FOLDERS` indexes of folders of at least
  `MIN_ENTRIES` entries (smaller folders are cheap to read), least recently
  used first out; it holds no message content, only UIDs and flags.

Ref: RFC 3501 6.3.1 (SELECT); RFC 7162 3.1 (MODSEQ).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_FOLDERS = 64
MIN_ENTRIES = 1000


class FlagTexts:
    """Stored flags text -> one shared frozenset per distinct text."""

    def __init__(self) -> None:
        self._sets: dict[str, frozenset[str]] = {}

    def parse(self, text: str) -> frozenset[str]:
        found = self._sets.get(text)
        if found is None:
            if len(self._sets) > 10_000:  # many keyword combinations: start again
                self._sets.clear()
            found = self._sets[text] = frozenset(text.split())
        return found


@dataclass(frozen=True)
class FolderIndex:
    """UIDs (ascending) and their flags, as of `highestmodseq`."""

    folder_id: int
    uidvalidity: int
    highestmodseq: int
    uids: Sequence[int]
    flags: Sequence[frozenset[str]]

    def position(self, uid: int) -> int | None:
        pos = bisect_left(self.uids, uid)
        return pos if pos < len(self.uids) and self.uids[pos] == uid else None

    def advanced(self, uidvalidity: int, highestmodseq: int,
                 changed: Iterable[tuple[int, frozenset[str]]], count: int) -> FolderIndex | None:
        """This index with the entries changed since it applied; None when the
        folder's entry count shows an expunge it cannot place."""
        uids, flags = list(self.uids), list(self.flags)
        last = uids[-1] if uids else 0
        for uid, value in sorted(changed):
            if uid > last:
                uids.append(uid)
                flags.append(value)
                last = uid
                continue
            pos = bisect_left(uids, uid)
            if pos < len(uids) and uids[pos] == uid:
                flags[pos] = value
            else:
                return None  # a UID below the last that the index never had
        if len(uids) != count:
            return None
        return FolderIndex(self.folder_id, uidvalidity, highestmodseq, uids, flags)


class IndexCache:
    """The process's recent folder indexes, bounded (least recently used out)."""

    def __init__(self, max_folders: int = MAX_FOLDERS, min_entries: int = MIN_ENTRIES) -> None:
        self.max_folders, self.min_entries = max_folders, min_entries
        self._items: OrderedDict[int, FolderIndex] = OrderedDict()
        self.texts = FlagTexts()

    def get(self, folder_id: int) -> FolderIndex | None:
        found = self._items.get(folder_id)
        if found is not None:
            self._items.move_to_end(folder_id)
        return found

    def put(self, index: FolderIndex) -> None:
        if len(index.uids) < self.min_entries:
            self._items.pop(index.folder_id, None)
            return
        self._items[index.folder_id] = index
        self._items.move_to_end(index.folder_id)
        while len(self._items) > self.max_folders:
            self._items.popitem(last=False)

    def drop(self, folder_id: int) -> None:
        self._items.pop(folder_id, None)
