"""A short-lived cache of local recipients (address -> BAL id and status) for RCPT.

Owns: `RecipientCache`. The gateway looks up every local RCPT address; the
answer is kept at most `ttl` seconds (1 s by default), so a change made by
another process (`mss bal suspend`, `delete`) is seen by the next RCPT at
most `ttl` later, without a cross-process signal. Only active BALs are kept
(`DeliveryStore.lookup`): a BAL created or resumed meanwhile is never
answered "unknown" or "suspended" from the cache; `forget` drops entries at
once.

Invariants: an entry older than `ttl` is never returned; at most `size`
entries are held (the oldest dropped first).

Ref: R3 (local recipients), R12.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class RecipientCache(Generic[V]):
    """address -> value, each for at most `ttl` seconds."""

    def __init__(self, ttl: float = 1.0, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()

    def get(self, address: str) -> V | None:
        entry = self._entries.get(address)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[address]
            return None
        return entry[0]

    def put(self, address: str, value: V) -> None:
        self._entries.pop(address, None)
        self._entries[address] = (value, time.monotonic() + self.ttl)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def update(self, address: str, value: V) -> None:
        """Replace a held entry's value, keeping its expiry (nothing when not held)."""
        entry = self._entries.get(address)
        if entry is not None:
            self._entries[address] = (value, entry[1])

    def forget(self, address: str | None = None) -> None:
        """Drop one address, or every entry."""
        if address is None:
            self._entries.clear()
        else:
            self._entries.pop(address, None)
