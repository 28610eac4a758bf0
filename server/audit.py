"""The audit sink: an append-only table behind the `AuditSink` protocol.

Invariants:
- Records are only inserted (database triggers refuse UPDATE and DELETE).
- `detail` is JSON of envelope facts (addresses, sizes, Message-ID, codes,
  internal reasons); callers never put a subject or body in it, and the sink
  drops keys that could carry content as a second line of defence.
- Timestamps are UTC with milliseconds.

This version keeps no hash chain between records and has no `mss audit export`.

Ref: R24; docs/architecture.md "AuditSink".
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from imap_store.store.db import Database
from imap_store.store.interfaces import AuditEvent
from imap_store.store.models import AuditRecord

log = logging.getLogger("mss.audit")
FORBIDDEN_KEYS = frozenset({"subject", "body", "content", "password", "secret"})


def _clean(detail: object) -> str:
    items = dict(detail) if isinstance(detail, dict) else dict(getattr(detail, "items", dict)())
    safe = {k: v for k, v in items.items() if k.lower() not in FORBIDDEN_KEYS}
    return json.dumps(safe, default=str, ensure_ascii=False, sort_keys=True)


class DatabaseAuditSink:
    """Writes each event as one row, in its own short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lost = 0

    @property
    def lost_records(self) -> int:
        return self._lost

    async def record(self, event: AuditEvent) -> None:
        row = AuditRecord(ts=datetime.now(UTC), event=event.event, protocol=event.protocol,
                          session=event.session, peer=event.peer, bal=event.bal,
                          person=event.person, detail=_clean(event.detail))
        try:
            async with self.db.write() as s:
                s.add(row)
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
