"""Audit events as rows of the append-only `audit` table (R24).

Owns: turning an `AuditEvent` into an `AuditRecord` row, the one place where
the detail is filtered and serialised; `add_audit` adds rows to a session the
caller's transaction commits (a delivery writes its audit this way, so the
delivery and its audit commit or fail together).

Invariants:
- `detail` is JSON of envelope facts; keys that could carry content or
  secrets (`FORBIDDEN_KEYS`, any case) are dropped before serialisation, as a
  second line of defence behind callers that never put them there.
- Timestamps are UTC, taken when the row is built.

Ref: R24; docs/architecture.md "AuditSink".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from .interfaces import AuditEvent
from .models import AuditRecord

FORBIDDEN_KEYS = frozenset({"subject", "body", "content", "password", "secret"})


def clean_detail(detail: Mapping[str, object]) -> str:
    """The detail as sorted JSON, without the keys that could carry content."""
    safe = {k: v for k, v in dict(detail).items() if k.lower() not in FORBIDDEN_KEYS}
    return json.dumps(safe, default=str, ensure_ascii=False, sort_keys=True)


def audit_row(event: AuditEvent) -> AuditRecord:
    """The row recording `event` now."""
    return AuditRecord(ts=datetime.now(UTC), event=event.event, protocol=event.protocol,
                       session=event.session, peer=event.peer, bal=event.bal,
                       person=event.person, detail=clean_detail(event.detail))


def add_audit(s: AsyncSession, events: Iterable[AuditEvent]) -> None:
    """Add the rows of `events` to the caller's transaction."""
    s.add_all([audit_row(e) for e in events])
