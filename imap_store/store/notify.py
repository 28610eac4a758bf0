"""In-process change notification per BAL (new mail, flag changes, expunges).

IMAP sessions wait on it during IDLE; writers bump it after commit. Changes
made by another process are seen only when the waiter's timeout re-reads
the store: there is no cross-process notification.

Ref: RFC 2177 (IDLE).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class ChangeNotifier:
    """A version counter and a condition per BAL id."""

    def __init__(self) -> None:
        self._versions: defaultdict[int, int] = defaultdict(int)
        self._events: dict[int, asyncio.Event] = {}

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
