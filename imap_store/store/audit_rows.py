"""Audit events as rows of the append-only `audit` table (R24).

Owns: turning an `AuditEvent` into an `AuditRecord` row (or the same row as
plain values, `audit_values`), the one place where the detail is filtered and
serialised; `add_audit` adds rows to a session the caller's transaction
commits, `insert_audit` inserts them in a group-commit writer transaction (a
delivery writes its audit this way, so the delivery and its audit commit or
fail together).

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

from .group_commit import WriteTx
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


AUDIT_INSERT = ("INSERT INTO audit (ts, event, protocol, session, peer, bal, person, detail) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")


def audit_values(event: AuditEvent) -> tuple[object, ...]:
    """The row recording `event` now, as `AUDIT_INSERT` parameters."""
    return (datetime.now(UTC), event.event, event.protocol, event.session, event.peer,
            event.bal, event.person, clean_detail(event.detail))


async def insert_audit(tx: WriteTx, events: Iterable[AuditEvent]) -> None:
    """Insert the rows of `events` in the writer transaction `tx`."""
    rows = [audit_values(e) for e in events]
    if rows:
        await tx.executemany(AUDIT_INSERT, rows)
