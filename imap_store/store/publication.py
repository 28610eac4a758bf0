"""Publication of local BALs in the directory, and the outbox of its changes (R13).

Owns: `set_published` and `republish_state` (the only writers of
`bal.published`), the `DirectoryIndex` protocol through which the directory
keeps its local entry of a BAL in step (implemented in `directory/`), and the
outbox reads (`pending_events`, `mark_sent`) for the connector to the
national directory.

Invariants:
- A BAL on liste rouge is never published, whatever the caller asks (R12).
- Every change of `bal.published` writes exactly one `publication_event`, in
  the caller's transaction; no change, no event - except a lifecycle
  transition (R28) that leaves `published` as it was (a BAL unpublished for
  inactivity while on liste rouge, deleted once unpublished, active again
  while suspended): `lifecycle_event` writes one event for it, so the
  connector learns of every transition.
- The directory index is refreshed in the same transaction, changed or not.
- Functions that take a session never commit: the caller's transaction
  (creation, suspension, deletion, liste-rouge change) carries them.

Ref: R12 (liste rouge), R13 (publish unless liste rouge; unpublish on
suspension or deletion), R28 (unpublish after inactivity, republish on login).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Bal, PublicationEvent


class DirectoryIndex(Protocol):
    """Keeps the directory's entry of one BAL in step with the BAL (its own transaction)."""

    async def refresh(self, session: AsyncSession, bal_id: int) -> None: ...


@dataclass(frozen=True)
class PublicationEventInfo:
    """One outbox event, for the connector to the national directory."""

    id: int
    bal_id: int
    address: str
    bal_type: str
    published: bool
    reason: str
    created_at: datetime
    sent_at: datetime | None


async def _bal(session: AsyncSession, bal_id: int) -> Bal:
    bal = await session.get(Bal, bal_id, with_for_update=True, populate_existing=True)
    if bal is None:
        raise LookupError(f"no BAL with id {bal_id}")
    return bal


async def _record(session: AsyncSession, bal: Bal, published: bool, reason: str,
                  now: datetime) -> None:
    bal.published = published
    session.add(PublicationEvent(bal_id=bal.id, address=bal.address, bal_type=bal.bal_type,
                                 published=published, reason=reason[:64], created_at=now))
    await session.flush()


async def set_published(session: AsyncSession, bal_id: int, published: bool, reason: str,
                        now: datetime, index: DirectoryIndex) -> bool:
    """Publish or unpublish a BAL (liste rouge forces unpublished).

    Writes an outbox event and returns True when the state changed; refreshes
    the BAL's directory entry either way.
    """
    bal = await _bal(session, bal_id)
    wanted = bool(published and not bal.liste_rouge)
    changed = bool(bal.published) != wanted
    if changed:
        await _record(session, bal, wanted, reason, now)
    await index.refresh(session, bal.id)
    return changed


async def lifecycle_event(session: AsyncSession, bal: Bal, reason: str,
                          now: datetime) -> None:
    """An outbox event for a lifecycle transition that did not change `published` (R28)."""
    await _record(session, bal, bool(bal.published), reason, now)


async def republish_state(session: AsyncSession, bal_id: int, reason: str,
                          now: datetime, index: DirectoryIndex) -> bool:
    """Re-apply the rules after a change of liste rouge, status or metadata.

    Unpublishes (with an event) a published BAL that is now on liste rouge or
    not active; never publishes by itself. Refreshes the directory entry.
    """
    bal = await _bal(session, bal_id)
    changed = bool(bal.published) and (bool(bal.liste_rouge) or bal.status != "active")
    if changed:
        await _record(session, bal, False, reason, now)
    await index.refresh(session, bal.id)
    return changed


async def pending_events(session: AsyncSession, limit: int = 100) -> list[PublicationEventInfo]:
    """Outbox events not yet sent, oldest first."""
    rows = (await session.execute(select(PublicationEvent).where(
        PublicationEvent.sent_at.is_(None)).order_by(PublicationEvent.id).limit(limit))).scalars()
    return [PublicationEventInfo(r.id, r.bal_id, r.address, r.bal_type, r.published, r.reason,
                                 r.created_at, r.sent_at) for r in rows]


async def mark_sent(session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
    """Mark outbox events as delivered to the national directory."""
    result = await session.execute(update(PublicationEvent).where(
        PublicationEvent.id.in_(list(ids)), PublicationEvent.sent_at.is_(None))
        .values(sent_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]
