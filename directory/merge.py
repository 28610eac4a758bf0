"""Folding duplicate address lines into the entry of the first one (import step).

Owns: `merge_duplicates(db, version, duplicates, segment, report) -> segment`.

Invariants: each duplicate line is counted once as `merged`; the stored entry
keeps the first line's values and gains the later lines' non-empty values in
its empty fields, and the search tokens those values bring; a line whose
address only shares a hash with an earlier one is imported as its own entry.

Ref: docs/rules.md "The directory file" ("about 169 addresses appear on more than one line").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from imap_store.store.db import Database

from .bulk import bulk_insert
from .extraction import Row, city_of
from .models import DirectoryEntry
from .rows import (
    ENTRY_COLUMNS,
    Segment,
    entry_record,
    indexed,
    merge_rows,
    row_tokens,
    split_fields,
)

if TYPE_CHECKING:
    from directory.importer import ImportReport

BATCH = 500
_TABLE = DirectoryEntry.__table__


async def _stored(db: Database, version: int, entry_nos: Sequence[int]) -> dict[int, Row]:
    async with db.read() as s:
        result = await s.execute(select(_TABLE.c.entry_no, _TABLE.c.fields).where(
            _TABLE.c.version_id == version, _TABLE.c.entry_no.in_(entry_nos))
            .order_by(_TABLE.c.entry_no))
        return {r[0]: split_fields(r[1]) for r in result}


def _group(duplicates: Sequence[tuple[int, Row]]) -> dict[int, list[Row]]:
    groups: dict[int, list[Row]] = {}
    for entry_no, row in duplicates:
        groups.setdefault(entry_no, []).append(row)
    return groups


async def _save(db: Database, version: int, changed: dict[int, Row],
                strays: list[tuple[object, ...]]) -> None:
    async with db.write() as s:
        for entry_no, row in changed.items():
            record = dict(zip(ENTRY_COLUMNS, entry_record(version, entry_no, row), strict=True))
            await s.execute(update(DirectoryEntry).where(
                DirectoryEntry.version_id == version, DirectoryEntry.entry_no == entry_no)
                .values({k: record[k] for k in ("pp_id", "name_key", "fields")}))
        await bulk_insert(s, "directory_entry", ENTRY_COLUMNS, strays)


async def merge_duplicates(db: Database, version: int, duplicates: Sequence[tuple[int, Row]],
                           segment: Segment, report: ImportReport, *, next_no: int) -> Segment:
    """Merge every duplicate line into its first entry (or import a hash stray).

    The tokens the merges add go to `segment` (empty, the version's last), returned;
    a stray gets the entry number `next_no` (then the following ones).
    """
    groups = _group(duplicates)
    numbers = sorted(groups)
    for start in range(0, len(numbers), BATCH):
        stored = await _stored(db, version, numbers[start:start + BATCH])
        changed: dict[int, Row] = {}
        strays: list[tuple[object, ...]] = []
        for entry_no, first in stored.items():
            merged = first
            for row in groups[entry_no]:
                if row[1] != first[1]:
                    record, tokens = indexed(version, next_no, row)
                    strays.append(record)
                    segment.add(next_no, tokens.items())
                    next_no += 1
                    continue
                merged = merge_rows(merged, row)
                report.merged += 1
            if merged != first:
                changed[entry_no] = merged
                old = row_tokens(first, city_of(first))
                segment.add(entry_no, [(t, c) for t, c in row_tokens(merged, city_of(merged))
                                       .items() if t not in old])
        await _save(db, version, changed, strays)
        report.imported += len(strays)
    return segment
