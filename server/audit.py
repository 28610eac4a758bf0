"""The audit sink: an append-only table behind the `AuditSink` protocol.

Invariants:
- Records are only inserted (database triggers refuse UPDATE and DELETE).
- `detail` is JSON of envelope facts (addresses, sizes, Message-ID, codes,
  internal reasons); callers never put a subject or body in it, and the rows
  are built by `imap_store.store.audit_rows`, which drops keys that could
  carry content as a second line of defence (the same filter as the audit
  rows a delivery writes in its own transaction).
- Timestamps are UTC with milliseconds.

This version keeps no hash chain between records and has no `mss audit export`.

Ref: R24; docs/architecture.md "AuditSink".
"""

from __future__ import annotations

import logging
from functools import partial

from imap_store.store.audit_rows import insert_audit
from imap_store.store.db import Database
from imap_store.store.interfaces import AuditEvent

log = logging.getLogger("mss.audit")


class DatabaseAuditSink:
    """Writes each event as one row through the database's group-commit writer: records
    that arrive together share a transaction, and `record` returns once its row is
    durable (a record waits at most for the batch under way, then its own)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lost = 0

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
