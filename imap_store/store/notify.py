"""Change notification per BAL (new mail, flag changes, expunges), and the folders watched.

Owns: `ChangeNotifier`: a version counter and a wake-up event per BAL, and the
register of selected folders (`watch`/`unwatch`, counted per session) that
`change_watch.FolderWatch` polls for changes made by other processes.

Invariants:
- writers of this process bump the BAL's version after their commit, so an
  IMAP session of this process sees its own process's changes at its next
  command, and IDLE wakes at once;
- a change committed by another process (an admin verb, another server
  process) moves the folder's `uidnext` or `highestmodseq`; the watcher sees
  it within its poll interval and bumps the version the same way; a writer
  of this process that knows the folders it changed reports their markers
  (`committed`), so the watcher does not report that change again;
- the register holds, per watched folder, the marker `(uidnext,
  highestmodseq)` last known, and forgets the folder when its last session
  lets go of it.

Ref: RFC 2177 (IDLE); RFC 3501 6.1.2 (NOOP as a poll for changes).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

Marker = tuple[int, int]
"""`(uidnext, highestmodseq)` of a folder: any write to it moves one of them."""


@dataclass
class Watched:
    """A selected folder: its BAL, how many sessions hold it, the marker last known."""

    bal_id: int
    holders: int
    marker: Marker


class ChangeNotifier:
    """A version counter and a condition per BAL id; the register of watched folders."""

    def __init__(self) -> None:
        self._versions: defaultdict[int, int] = defaultdict(int)
        self._events: dict[int, asyncio.Event] = {}
        self._watched: dict[int, Watched] = {}

    def version(self, bal_id: int) -> int:
        return self._versions[bal_id]

    def bump(self, bal_id: int) -> None:
        self._versions[bal_id] += 1
        event = self._events.pop(bal_id, None)
        if event is not None:
            event.set()

    async def wait(self, bal_id: int, since: int, timeout: float) -> int:
        """Wait until the version moves past `since` or `timeout` elapses."""
        if self._versions[bal_id] != since:
            return self._versions[bal_id]
        event = self._events.setdefault(bal_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        return self._versions[bal_id]

    def watch(self, bal_id: int, folder_id: int, marker: Marker) -> None:
        """A session selected `folder_id`, whose snapshot it took had `marker`."""
        entry = self._watched.get(folder_id)
        if entry is None:
            self._watched[folder_id] = Watched(bal_id, 1, marker)
        else:
            entry.holders += 1

    def unwatch(self, folder_id: int) -> None:
        """A session let go of `folder_id` (CLOSE, another SELECT, logout, disconnect)."""
        entry = self._watched.get(folder_id)
        if entry is None:
            return
        entry.holders -= 1
        if entry.holders <= 0:
            del self._watched[folder_id]

    def watched(self) -> dict[int, Watched]:
        """The watched folders by id (a copy: the caller may await while holding it)."""
        return dict(self._watched)

    def committed(self, bal_id: int, folders: Iterable[tuple[int, Marker]]) -> None:
        """This process committed a change to `folders` (id, marker after the commit).

        The watched markers take the committed values, so the watcher does
        not report this process's own change a second time; then the BAL's
        version moves."""
        for folder_id, marker in folders:
            entry = self._watched.get(folder_id)
            if entry is not None:
                entry.marker = marker
        self.bump(bal_id)

    def observe(self, folder_id: int, marker: Marker | None) -> None:
        """The watcher read `marker` for `folder_id` (None: the folder is gone)."""
        entry = self._watched.get(folder_id)
        if entry is None or entry.marker == marker:
            return
        if marker is not None:
            entry.marker = marker
        self.bump(entry.bal_id)
