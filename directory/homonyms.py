"""Shared names of a directory version: who has namesakes (an import step).

Owns: `count_homonyms(db, version)`, which stores every name key that two or
more persons share in the version, with how many persons share it.

Invariants: a person is an RPPS (`pp_id`), or the BAL address when there is
none, so one person with several BALs is not their own homonym; the count is
read in one read transaction and written in short write transactions, in key
order (appends only).

Ref: R14 ("beware of homonyms"); FAQ 5.
"""

from __future__ import annotations

from sqlalchemy import func, select

from imap_store.store.db import Database

from .bulk import bulk_insert
from .models import DirectoryEntry

HOMONYM_COLUMNS = ("version_id", "name_key", "persons")


async def count_homonyms(db: Database, version: int, chunk: int = 50_000) -> int:
    """Store the version's shared names; returns how many names are shared."""
    person = func.coalesce(DirectoryEntry.pp_id, DirectoryEntry.address)
    persons = func.count(person.distinct())
    query = (select(DirectoryEntry.name_key, persons)
             .where(DirectoryEntry.version_id == version, DirectoryEntry.name_key.isnot(None))
             .group_by(DirectoryEntry.name_key).having(persons > 1)
             .order_by(DirectoryEntry.name_key))
    async with db.read() as s:
        shared = [(version, key, count) for key, count in (await s.execute(query)).all()]
    for start in range(0, len(shared), chunk):
        async with db.write() as s:
            await bulk_insert(s, "directory_homonym", HOMONYM_COLUMNS,
                              shared[start:start + chunk])
    return len(shared)
