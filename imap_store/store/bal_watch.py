"""Logins that no longer stand: BALs suspended, deleted or given a new password elsewhere.

Owns: `BalWatch`, one per server process. Each successful login gets a
`Standing` from it (`issue`); every `interval` seconds it reads the status and
password epoch of the BALs whose logins are still held in this process (one
statement per 500 BALs, none when no login is held) and withdraws the
standings that no longer hold. It keeps standings weakly: a session that ends
drops its principal and the watch forgets it, with no call to make.

Invariants:
- a standing is withdrawn, and never restored, when its BAL's row is gone
  (`mss bal delete`), its status is not active (`mss bal suspend`, R28), or,
  for a login made with the BAL's own password, the BAL's password epoch moved
  (`mss bal passwd`); logins with an app password or a person's own password
  (delegation, R10) keep standing after a BAL password change: their secret
  did not change;
- a change committed by any process is seen within `interval` seconds (plus
  the read); the BAL's change version is then bumped, so an IDLE session
  wakes at once and ends;
- the watch reads, it never writes; a failed poll is logged and retried at
  the next interval (`periodic.every`).

Ref: R9, R10, R28; RFC 3501 7.1.5 (BYE); RFC 5321 3.8 (421).
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from functools import partial

from .db import Database
from .interfaces import Standing
from .notify import ChangeNotifier
from .periodic import every
from .read_pool import fetch_in

CHUNK = 500
DEFAULT_INTERVAL = 1.0


class BalWatch:
    """Issues login standings and withdraws those that no longer hold."""

    def __init__(self, db: Database, notifier: ChangeNotifier | None = None,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.db = db
        self.notifier = notifier
        self.interval = interval
        self._held: weakref.WeakSet[Standing] = weakref.WeakSet()

    def issue(self, bal_id: int, password_epoch: int | None) -> Standing:
        """A standing for a login on `bal_id`; `password_epoch` when it was made with the
        BAL's own password (the epoch read with that password), else None."""
        standing = Standing(bal_id, password_epoch)
        self._held.add(standing)
        return standing

    def held(self) -> int:
        """How many standings are held (the sessions' principals still alive)."""
        return len(self._held)

    async def poll_once(self) -> None:
        """Read the held BALs once and withdraw the standings that no longer hold."""
        by_bal: defaultdict[int, list[Standing]] = defaultdict(list)
        for standing in list(self._held):
            if not standing.withdrawn:
                by_bal[standing.bal_id].append(standing)
        ids = sorted(by_bal)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            rows = await self.db.reader.run(partial(
                fetch_in, "SELECT id, status, password_epoch FROM bal WHERE id IN ({ids})",
                chunk), single=True)
            state = {int(r[0]): (r[1], int(r[2])) for r in rows}
            for bal_id in chunk:
                self._judge(bal_id, by_bal[bal_id], state.get(bal_id))

    def _judge(self, bal_id: int, standings: list[Standing],
               row: tuple[str, int] | None) -> None:
        withdrawn = False
        for standing in standings:
            if (row is None or row[0] != "active"
                    or (standing.password_epoch is not None and row[1] != standing.password_epoch)):
                standing.withdrawn = withdrawn = True
        if withdrawn and self.notifier is not None:
            self.notifier.bump(bal_id)  # IDLE wakes and ends

    async def run(self) -> None:
        """Poll until cancelled (`periodic.every`: a poll under way is never cut)."""
        await every(self.interval, self.poll_once, "login standing poll")
