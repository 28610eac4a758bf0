"""The trust list in force in this process, and how a new version arrives.

Invariants:
- `current` is the newest stored version that parsed; a version that fails to
  parse or load is logged and the previous one stays (R1: keep the last good).
- A running server polls the database and picks up a version imported by
  `mss trustlist import` or the refresh job within `poll_seconds` (5 s).

Ref: R1, R2; docs/architecture.md "Contracts" (admin verbs seen within 5 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from imap_store.store.periodic import every
from imap_store.store.trustlists import StoredTrustList, TrustListStore
from policy.trust_list import TrustList, TrustListError, parse_trust_list

from .tasks import BackgroundTasks

log = logging.getLogger("mss.trustlist")


class TrustState:
    """Holds the parsed trust list; `current` is None until one was loaded."""

    def __init__(self, store: TrustListStore, poll_seconds: float = 5.0) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._current: TrustList | None = None
        self._loaded_id: int | None = None
        self._tasks = BackgroundTasks()

    @property
    def current(self) -> TrustList | None:
        return self._current

    async def refresh(self) -> bool:
        """Load the newest stored version if it is not the one in force."""
        latest = await self.store.latest_id()
        if latest is None or latest == self._loaded_id:
            return False
        loaded = await self.store.load(latest)
        if loaded is None:
            return False
        try:
            self._current = await asyncio.to_thread(parse_trust_list, loaded[1])
        except TrustListError as exc:
            log.error("stored trust list %s does not parse, keeping %s: %s", latest,
                      self._current.version if self._current else "none", exc)
        self._loaded_id = latest
        log.info("trust list in force: %s", self._current.version if self._current else "none")
        return True

    def start_polling(self) -> None:
        self._tasks.spawn(self._poll(), "trust-list poll")

    def refresh_soon(self) -> None:
        """Refresh in the background (after SIGHUP); the task is kept and logged."""
        self._tasks.spawn(self.refresh(), "trust-list refresh")

    async def stop(self) -> None:
        await self._tasks.close()

    async def _poll(self) -> None:
        # A failed poll is logged and the version in force is kept (`every`).
        await every(self.poll_seconds, self._refresh_step, "trust-list poll")

    async def _refresh_step(self) -> None:
        await self.refresh()  # whether a new version came in is logged by refresh


async def import_trust_list(store: TrustListStore, raw: bytes, source: str,
                            expected_sha256: str = "") -> tuple[StoredTrustList, bool]:
    """Parse then store one version; raises TrustListError and stores nothing if bad."""
    digest = hashlib.sha256(raw).hexdigest()
    if expected_sha256 and digest != expected_sha256.lower():
        raise TrustListError(f"SHA-256 {digest} does not match the expected {expected_sha256}")
    parsed = await asyncio.to_thread(parse_trust_list, raw)
    return await store.save(raw, generated_at=parsed.generated_at, sha256=parsed.sha256,
                            source=source, domains=len(parsed.domains))


async def import_file(store: TrustListStore, path: Path) -> tuple[StoredTrustList, bool]:
    raw = await asyncio.to_thread(path.read_bytes)
    return await import_trust_list(store, raw, str(path))
