"""Which `mss serve` process runs the scheduled jobs: the holder of a PostgreSQL
advisory lock.

Owns: `Leader`. On PostgreSQL it keeps one dedicated connection and tries
`pg_try_advisory_lock(LOCK_KEY)` on it; the lock is held for as long as that
session lives, so when the process stops (or is killed, or loses its
connection) PostgreSQL releases it and another process takes it at its next
try (`retry` seconds). On SQLite there is one host and the lock is the
process's own: it always leads.

Invariants: at most one process holds the lock at a time (PostgreSQL's
guarantee); a holder that cannot prove its session alive gives the lead up
before running anything; the jobs stay idempotent per period
(`job_runner`), so a lead lost in the middle of a run never makes a period
run twice to completion.

Ref: docs/architecture.md "Scheduler" (one process runs the jobs, an advisory
lock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger("mss.scheduler")
LOCK_KEY = 0x6D73_7331  # "mss1"


class Leader:
    """Holds (or tries to hold) the scheduler's advisory lock."""

    def __init__(self, pg_dsn: str | None, retry: float, name: str = "") -> None:
        self.pg_dsn = pg_dsn
        self.retry = retry
        self.name = name
        """Shown as the session's `application_name` (`mss scheduler host:pid`)."""
        self._conn: Any = None
        self._tried = -retry
        self._lock = asyncio.Lock()  # the jobs ask at once: one try, one answer

    @property
    def held(self) -> bool:
        return self.pg_dsn is None or self._conn is not None

    async def ensure(self) -> bool:
        """Whether this process leads now: checks a held lock's session, or tries to
        take the lock when the last try is `retry` seconds old."""
        if self.pg_dsn is None:
            return True
        async with self._lock:
            return await self._ensure()

    async def _ensure(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.fetchval("SELECT 1")
                return True
            except Exception:
                log.warning("scheduler lead lost (its database session ended)")
                await self._drop()
        if time.monotonic() - self._tried < self.retry:
            return False
        self._tried = time.monotonic()
        return await self._try()

    async def _try(self) -> bool:
        import asyncpg  # the PostgreSQL driver, present only where it is used
        try:
            conn = await asyncpg.connect(self.pg_dsn, server_settings={
                "application_name": f"mss scheduler {self.name}"[:63]})
        except Exception:
            log.warning("scheduler lead: database unreachable, trying again later")
            return False
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            self._conn = conn
            log.info("this process now runs the scheduled jobs")
            return True
        await conn.close()
        return False

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except Exception:
                conn.terminate()

    async def close(self) -> None:
        """Give the lead up (the session ends, so does the lock)."""
        await self._drop()
