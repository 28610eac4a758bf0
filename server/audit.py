"""The audit sink: an append-only table behind the `AuditSink` protocol.

Invariants:
- Records are only inserted (database triggers refuse UPDATE and DELETE).
- `detail` is JSON of envelope facts (addresses, sizes, Message-ID, codes,
  internal reasons); callers never put a subject or body in it, and the rows
  are built by `imap_store.store.audit_rows`, which drops keys that could
  carry content as a second line of defence (the same filter as the audit
  rows a delivery writes in its own transaction).
- Timestamps are UTC with milliseconds.
- A record that must not hold the reply (`record_soon`: an IMAP body FETCH, the
  `smtp.transaction` summary of a delivery already committed, whose own
  `delivery.*` records are in its transaction) is queued and written with the
  others queued meanwhile, in one transaction, at most `QUEUED_RECORD_DELAY`
  seconds after it was queued (plus the write itself); `flush()` writes what
  is queued at once (the server's stop calls it). Records of writes travel in
  the write's own transaction; the rest are durable before `record` returns.

This version keeps no hash chain between records and has no `mss audit export`.

Ref: R24; docs/architecture.md "AuditSink".
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from functools import partial

from imap_store.store.audit_rows import insert_audit
from imap_store.store.db import Database
from imap_store.store.interfaces import AuditEvent

log = logging.getLogger("mss.audit")
QUEUED_RECORD_DELAY = 0.1


class DatabaseAuditSink:
    """Writes each event as one row through the database's group-commit writer: records
    that arrive together share a transaction, and `record` returns once its row is
    durable (a record waits at most for the batch under way, then its own)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lost = 0
        self._queued: list[AuditEvent] = []
        self._writer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def lost_records(self) -> int:
        return self._lost

    async def record(self, event: AuditEvent) -> None:
        try:
            await self.db.writer.run(partial(insert_audit, events=(event,)))
        except Exception:
            log.exception("audit write failed for event %s", event.event)
            raise

    async def record_after_commit(self, event: AuditEvent) -> None:
        try:
            await self.record(event)
        except Exception:  # the failure was logged by record(); the reply stands
            self._lost += 1
            log.error("audit record lost after commit: event %s, session %s (%d lost)",
                      event.event, event.session, self._lost)

    async def record_soon(self, event: AuditEvent) -> None:
        """Queue a record that must not hold the reply (a read, or the summary of work
        already committed); written within `QUEUED_RECORD_DELAY` s with the others queued
        meanwhile. Never raises: a failure is logged and counted (`lost_records`)."""
        self._queued.append(event)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._after_delay(), name="audit-queued-records")

    async def flush(self) -> None:
        """Write every queued record now (the server's stop calls it)."""
        if self._writer is not None and not self._writer.done():
            self._wake.set()
            await self._writer
        await self._write_queued()

    async def _after_delay(self) -> None:
        # Records queued while a write is under way go with the next round, not with the
        # next `record_soon` (which would find this task still running and start none).
        while self._queued:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), QUEUED_RECORD_DELAY)
            self._wake.clear()
            await self._write_queued()

    async def _write_queued(self) -> None:
        """The queue as one unit (one statement); when that fails, each record as its own
        unit, all handed over together: they share the writer's transaction, and one
        refused row fails alone."""
        batch, self._queued = self._queued, []
        if not batch:
            return
        try:
            await self.db.writer.run(partial(insert_audit, events=tuple(batch)))
        except Exception:  # which record was refused is found by writing them one by one
            log.warning("audit: %d queued records refused together; writing each alone",
                        len(batch))
        else:
            return
        results = await asyncio.gather(
            *(self.db.writer.run(partial(insert_audit, events=(e,))) for e in batch),
            return_exceptions=True)
        for event, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self._lost += 1
                log.error("audit write failed for event %s", event.event, exc_info=result)
                log.error("audit record lost after the reply: event %s, session %s (%d lost)",
                          event.event, event.session, self._lost)
