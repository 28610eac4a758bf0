"""Changes made by other processes to the folders IMAP sessions have selected.

Owns: `FolderWatch`, one per server process: every `interval` seconds it reads
the marker `(uidnext, highestmodseq)` of each folder a session of this
process has selected (one statement per 500 folders, none when no folder is
selected) and hands it to the notifier, which bumps the BAL's version when
the marker moved or the folder is gone.

Invariants: a change committed by another process (an admin verb, another
server process) reaches the sessions of this one within `interval` seconds
(NOOP reports it, IDLE wakes); a poll that fails is logged and retried at the
next interval (`periodic.every`), and stopping the server never cuts a poll
in the middle; the watcher reads, it never writes.

Ref: RFC 3501 6.1.2 (NOOP), RFC 2177 (IDLE), RFC 7162 3.1.2 (HIGHESTMODSEQ
moves with every change).
"""

from __future__ import annotations

from functools import partial

from .db import Database
from .notify import ChangeNotifier, Marker
from .periodic import every
from .read_pool import fetch_in

CHUNK = 500
DEFAULT_INTERVAL = 1.0


class FolderWatch:
    """Polls the markers of the watched folders; see the module docstring."""

    def __init__(self, db: Database, notifier: ChangeNotifier,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.db = db
        self.notifier = notifier
        self.interval = interval

    async def poll_once(self) -> None:
        """Read every watched folder's marker once and report it to the notifier."""
        ids = sorted(self.notifier.watched())
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            markers = await self._markers(chunk)
            for folder_id in chunk:
                self.notifier.observe(folder_id, markers.get(folder_id))

    async def _markers(self, ids: list[int]) -> dict[int, Marker]:
        rows = await self.db.reader.run(partial(
            fetch_in, "SELECT id, uidnext, highestmodseq FROM folder WHERE id IN ({ids})", ids),
            single=True)
        return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}

    async def run(self) -> None:
        """Poll until cancelled (`periodic.every`: a poll under way is never cut)."""
        await every(self.interval, self.poll_once, "folder change poll")
