"""Publication of local BALs in the directory, and the outbox of its changes (R13).

Owns: `set_published` and `republish_state` (the only writers of
`bal.published`), the local directory entries (version 0 of
`directory_entry`, with `directory_local_token`) that make published BALs
searchable, `sync_local_entries` (rebuild them all), and the outbox reads
(`pending_events`, `mark_sent`) for a future Annuaire Santé connector.

Invariants:
- A BAL on liste rouge is never published, whatever the caller asks (R12).
- Every change of `bal.published` writes exactly one `publication_event`, in
  the caller's transaction; no change, no event.
- A local entry exists exactly while its BAL is published, not on liste rouge
  and active; it carries the BAL's own data and, for a BAL with an RPPS, the
  person's names, profession and place from the active imported version.
- Functions that take a session never commit: the caller's transaction
  (creation, suspension, deletion, liste-rouge change) carries them.

Ref: MSS-RULES R12 (liste rouge), R13 (publish unless liste rouge; unpublish
on suspension/deletion), R28 (unpublish after inactivity, republish on login).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database
from .directory_file import COL, COLUMNS, city_of
from .directory_rows import (
    ENTRY_COLUMNS,
    FIELD_BITS,
    FIELD_MASK,
    entry_record,
    row_tokens,
    split_fields,
    unpack,
)
from .directory_text import RPPS
from .models import (
    Bal,
    DirectoryEntry,
    DirectoryLocalToken,
    DirectoryPosting,
    DirectoryVersion,
    Person,
    PublicationEvent,
)

LOCAL_VERSION = 0
_BORROWED = ("civility", "last_name", "first_name", "profession_category",
             "profession_category_label", "profession_code", "profession", "specialty_code",
             "specialty", "structure_name", "addr_complement", "addr_distribution",
             "street_number", "street_number_ext", "street_type", "street_name", "locality",
             "routing", "postcode", "departement", "country")


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


def visible(bal: Bal) -> bool:
    """Whether a BAL may be shown in the directory right now."""
    return bool(bal.published and not bal.liste_rouge and bal.status == "active")


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
                        now: datetime) -> bool:
    """Publish or unpublish a BAL (liste rouge forces unpublished).

    Writes an outbox event and returns True when the state changed; refreshes
    the BAL's local directory entry either way.
    """
    bal = await _bal(session, bal_id)
    wanted = bool(published and not bal.liste_rouge)
    changed = bool(bal.published) != wanted
    if changed:
        await _record(session, bal, wanted, reason, now)
    await refresh_local_entry(session, bal)
    return changed


async def republish_state(session: AsyncSession, bal_id: int, reason: str,
                          now: datetime) -> bool:
    """Re-apply the rules after a change of liste rouge, status or metadata.

    Unpublishes (with an event) a published BAL that is now on liste rouge or
    not active; never publishes by itself. Refreshes the local entry.
    """
    bal = await _bal(session, bal_id)
    changed = bool(bal.published) and (bool(bal.liste_rouge) or bal.status != "active")
    if changed:
        await _record(session, bal, False, reason, now)
    await refresh_local_entry(session, bal)
    return changed


async def _national(session: AsyncSession, rpps: str) -> tuple[str | None, ...] | None:
    """The active imported entry of this RPPS (its fields), if any."""
    version = (await session.execute(select(DirectoryVersion.id).where(
        DirectoryVersion.state == "active").order_by(DirectoryVersion.id.desc()))).scalar()
    if version is None:
        return None
    blobs = (await session.execute(select(DirectoryPosting.postings).where(
        DirectoryPosting.version_id == version, DirectoryPosting.token == rpps))).scalars()
    numbers = [p >> FIELD_BITS for blob in blobs for p in unpack(blob)
               if p & FIELD_MASK == RPPS]
    if not numbers:
        return None
    fields = (await session.execute(select(DirectoryEntry.fields).where(
        DirectoryEntry.version_id == version, DirectoryEntry.entry_no.in_(numbers))
        .order_by(DirectoryEntry.entry_no).limit(1))).scalar()
    return split_fields(fields) if fields else None


async def local_row(session: AsyncSession, bal: Bal) -> tuple[str | None, ...]:
    """The 31 extraction fields describing a local BAL."""
    values: dict[str, str | None] = dict.fromkeys(COLUMNS)
    person = await session.get(Person, bal.person_id) if bal.person_id else None
    rpps = bal.rpps or (person.rpps if person else None)
    values.update(bal_type=bal.bal_type, address=bal.address, pp_id=rpps,
                  pp_id_type="8" if rpps else None, pp_national_id=f"8{rpps}" if rpps else None,
                  structure_id=bal.structure_id, service=bal.service,
                  structure_brand=bal.description,
                  last_name=bal.display_name or (person.display_name if person else None))
    national = await _national(session, rpps) if rpps else None
    if national is not None:
        values.update({k: national[COL[k]] for k in _BORROWED if national[COL[k]]})
    return tuple((v or "").replace("|", "/") or None for v in values.values())


async def refresh_local_entry(session: AsyncSession, bal: Bal) -> None:
    """Rebuild (or remove) the BAL's local directory entry and search tokens."""
    await session.execute(delete(DirectoryLocalToken).where(DirectoryLocalToken.bal_id == bal.id))
    await session.execute(delete(DirectoryEntry).where(
        DirectoryEntry.version_id == LOCAL_VERSION, DirectoryEntry.entry_no == bal.id))
    if not visible(bal):
        return
    row = await local_row(session, bal)
    record = entry_record(LOCAL_VERSION, bal.id, row, bal.id)
    await session.execute(insert(DirectoryEntry).values(dict(zip(ENTRY_COLUMNS, record,
                                                                 strict=True))))
    tokens = row_tokens(row, city_of(row))
    if tokens:
        await session.execute(insert(DirectoryLocalToken), [
            {"token": t, "bal_id": bal.id, "field": f} for t, f in tokens.items()])


async def sync_local_entries(db: Database, batch: int = 200) -> int:
    """Rebuild every local entry (after an import, at start); returns BALs seen."""
    async with db.read() as s:
        ids = (await s.execute(select(Bal.id).order_by(Bal.id))).scalars().all()
        stale = (await s.execute(select(DirectoryEntry.entry_no).where(
            DirectoryEntry.version_id == LOCAL_VERSION))).scalars().all()
    async with db.write() as s:
        gone = sorted(set(stale) - set(ids))
        await s.execute(delete(DirectoryEntry).where(
            DirectoryEntry.version_id == LOCAL_VERSION, DirectoryEntry.entry_no.in_(gone)))
    for start in range(0, len(ids), batch):
        async with db.write() as s:
            for bal in (await s.execute(select(Bal).where(
                    Bal.id.in_(ids[start:start + batch])))).scalars():
                await refresh_local_entry(s, bal)
    return len(ids)


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
