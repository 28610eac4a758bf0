"""Deleting a superseded directory version in small transactions.

Owns: `purge_version(db, version, chunk)`.

Invariants: only a `retired` version is purged (never `active`, never the
local version 0); each transaction deletes one posting segment or at most
`chunk` entries, walking the primary keys, so writers are never held up long; the version row stays,
as `purged`, with its counts (the import history).

Ref: docs/architecture.md "Storage" (short write transactions on SQLite).
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from imap_store.store.db import Database

from .models import DirectoryEntry, DirectoryHomonym, DirectoryPosting, DirectoryVersion


async def _purge_postings(db: Database, version: int) -> None:
    async with db.read() as s:
        segments = (await s.execute(select(DirectoryPosting.segment).where(
            DirectoryPosting.version_id == version).distinct())).scalars().all()
    for segment in segments:
        async with db.write() as s:
            await s.execute(delete(DirectoryPosting).where(
                DirectoryPosting.version_id == version, DirectoryPosting.segment == segment))


async def _purge_homonyms(db: Database, version: int, chunk: int) -> None:
    while True:
        async with db.write() as s:
            bound = (await s.execute(
                select(DirectoryHomonym.name_key).where(DirectoryHomonym.version_id == version)
                .order_by(DirectoryHomonym.name_key).offset(chunk).limit(1))).scalar()
            where = [DirectoryHomonym.version_id == version]
            if bound is not None:
                where.append(DirectoryHomonym.name_key < bound)
            await s.execute(delete(DirectoryHomonym).where(*where))
        if bound is None:
            return


async def _purge_entries(db: Database, version: int, chunk: int) -> None:
    while True:
        async with db.write() as s:
            bound = (await s.execute(
                select(DirectoryEntry.entry_no).where(DirectoryEntry.version_id == version)
                .order_by(DirectoryEntry.entry_no).offset(chunk).limit(1))).scalar()
            where = [DirectoryEntry.version_id == version]
            if bound is not None:
                where.append(DirectoryEntry.entry_no < bound)
            await s.execute(delete(DirectoryEntry).where(*where))
        if bound is None:
            return


async def purge_version(db: Database, version: int, chunk: int = 50_000) -> bool:
    """Delete a retired version's tokens and entries; False if it is not retired."""
    if version == 0:
        return False
    async with db.read() as s:
        state = (await s.execute(select(DirectoryVersion.state).where(
            DirectoryVersion.id == version))).scalar()
    if state != "retired":
        return False
    await _purge_postings(db, version)
    await _purge_homonyms(db, version, chunk)
    await _purge_entries(db, version, chunk)
    async with db.write() as s:
        await s.execute(update(DirectoryVersion).where(DirectoryVersion.id == version)
                        .values(state="purged"))
    return True
