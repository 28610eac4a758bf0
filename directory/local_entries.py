"""Local directory entries: our published BALs, searchable beside the Annuaire Santé.

Owns: `LocalEntries` (the `DirectoryIndex` the store's publication calls in
the caller's transaction), `refresh_local_entry`, `sync_local_entries`
(rebuild them all, after an import or at start), `visible` and `local_row`.

Invariants:
- A local entry (version 0 of `directory_entry`, with `directory_local_token`)
  exists exactly while its BAL is published, not on liste rouge and active
  (R12, R13).
- It carries the BAL's own data and, for a BAL with an RPPS, the person's
  names, profession and place from the active imported version.
- Functions that take a session never commit.

Ref: R12 (liste rouge), R13 (publication), R14 (directory fields).
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from imap_store.store.db import Database
from imap_store.store.models import Bal, Person

from .extraction import COL, COLUMNS, city_of
from .models import DirectoryEntry, DirectoryLocalToken, DirectoryPosting, DirectoryVersion
from .rows import (
    ENTRY_COLUMNS,
    FIELD_BITS,
    FIELD_MASK,
    entry_record,
    row_tokens,
    split_fields,
    unpack,
)
from .text import RPPS

LOCAL_VERSION = 0
_BORROWED = ("civility", "last_name", "first_name", "profession_category",
             "profession_category_label", "profession_code", "profession", "specialty_code",
             "specialty", "structure_name", "addr_complement", "addr_distribution",
             "street_number", "street_number_ext", "street_type", "street_name", "locality",
             "routing", "postcode", "departement", "country")


def visible(bal: Bal) -> bool:
    """Whether a BAL may be shown in the directory right now."""
    return bool(bal.published and not bal.liste_rouge and bal.status == "active")


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



class LocalEntries:
    """The store's `DirectoryIndex`: keeps a BAL's local entry in step with it."""

    async def refresh(self, session: AsyncSession, bal_id: int) -> None:
        bal = await session.get(Bal, bal_id)
        if bal is not None:
            await refresh_local_entry(session, bal)


LOCAL_ENTRIES = LocalEntries()
