"""Directory import: a new Annuaire Santé version loaded beside the served one.

Owns: `DirectoryImporter.run(lines, source) -> ImportReport`, and
`purge_retired(db)` which deletes superseded versions in small chunks.

Invariants:
- The new version is written as `loading` in chunks, each its own short
  write transaction, so other writers (deliveries) and every reader keep
  going; searches see only the `active` version until the switch, which is
  one short transaction (`loading` -> `active`, old `active` -> `retired`).
- Every data line is accounted for: imported + merged + rejected == lines.
- A failed or interrupted import leaves its version `retired` (purged
  later) and the served version untouched; a newer import retires an older
  one still loading, whose switch then fails.
- Parsing the next chunk (a worker thread) overlaps writing the current one.
- Old versions are deleted after a grace period, in chunks.

Ref: docs/rules.md "The directory file" (daily extraction, duplicate addresses), R14.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update

from imap_store.store.db import Database

from .bulk import bulk_insert
from .extraction import Row, data_lines
from .homonyms import count_homonyms
from .merge import merge_duplicates
from .models import DirectoryVersion
from .parse import BlockReader, ParsedBlock
from .purge import purge_version
from .rows import ENTRY_COLUMNS, MAX_ENTRY, POSTING_COLUMNS, Segment, split_fields

Progress = Callable[[str, int], None]
"""(phase, amount): phase `read` reports the bytes of the file read so far."""
MAX_EXAMPLES = 20


class DirectoryImportError(RuntimeError):
    """The import could not be switched in (superseded, or nothing to import)."""


@dataclass
class ImportReport:
    """What an import did with each line of the file."""

    version_id: int = 0
    lines: int = 0
    imported: int = 0
    merged: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str]] = field(default_factory=list)
    sha256: str = ""
    previous_version: int | None = None
    tokens: int = 0
    segments: int = 0
    shared_names: int = 0

    def reject(self, line_no: int, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line_no, reason))


@dataclass
class _Batch:
    entries: list[tuple[Any, ...]]
    postings: list[tuple[int, int, str, bytes]]


@dataclass
class _Load:
    """State of the streaming pass (touched by one worker thread at a time)."""

    version: int
    report: ImportReport
    segment: Segment
    first_no: dict[int, int] = field(default_factory=dict)
    duplicates: list[tuple[int, Row]] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)
    segment_entries: int = 0
    bytes_read: int = 0

    def hashing(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        for raw in lines:
            self.digest.update(raw)
            self.bytes_read += len(raw)
            yield raw

    def take(self, block: ParsedBlock) -> list[tuple[Any, ...]]:
        """The entry records of a parsed block (entry number = line number);
        duplicates and rejects set aside. A duplicate's postings stay, pointing
        at an entry that does not exist, which a search skips."""
        entries: list[tuple[Any, ...]] = []
        self.report.lines += block.lines
        for line_no, reason in block.rejected:
            self.report.reject(line_no, reason)
        version, first_no = self.version, self.first_no
        for line_no, bal_type, address, pp_id, name_key, fields in block.accepted:
            key = hash(address)
            first = first_no.get(key)
            if first is not None:
                self.duplicates.append((first, split_fields(fields)))
                continue
            first_no[key] = line_no
            entries.append((version, line_no, bal_type, address, pp_id, name_key, fields, None))
        if self.report.lines + 1 > MAX_ENTRY:
            raise DirectoryImportError(f"more than {MAX_ENTRY} lines")
        self.segment.extend(block.postings())
        self.segment_entries += len(entries)
        return entries

    def close_segment(self) -> list[tuple[int, int, str, bytes]]:
        rows = self.segment.rows()
        self.report.segments = self.segment.number + 1
        self.segment = Segment(self.version, self.segment.number + 1)
        self.segment_entries = 0
        return rows


class DirectoryImporter:
    """Loads one extraction file as a new version and switches to it."""

    def __init__(self, db: Database, *, workers: int = 0, chunk_rows: int = 10_000,
                 segment_rows: int = 50_000, posting_chunk: int = 50_000,
                 cleanup_grace: float = 2.0, progress: Progress | None = None) -> None:
        self.db, self.workers = db, workers
        self.chunk_rows, self.segment_rows = chunk_rows, segment_rows
        self.posting_chunk = posting_chunk
        self.cleanup_grace = cleanup_grace
        self.progress = progress or (lambda _phase, _n: None)

    async def run(self, lines: Iterable[bytes], source: str) -> ImportReport:
        """Import the file's raw lines; ExtractionError (bad header) before any write."""
        report = ImportReport()
        load = _Load(0, report, Segment(0, 0))
        parsed = data_lines(load.hashing(lines))
        load.version = report.version_id = await self._begin(source)
        load.segment = Segment(load.version, 0)
        try:
            await self._load(parsed, load)
            extra = await merge_duplicates(self.db, load.version, load.duplicates,
                                           load.segment, report, next_no=report.lines + 2)
            await self._write(_Batch([], extra.rows() if len(extra) else []), report)
            report.segments += 1 if len(extra) else 0
            report.shared_names = await count_homonyms(self.db, load.version)
            report.sha256 = load.digest.hexdigest()
            await self._switch(load.version, report)
        except BaseException:
            await self._abandon(load.version)
            raise
        await asyncio.sleep(self.cleanup_grace)
        await purge_retired(self.db)
        return report

    async def _begin(self, source: str) -> int:
        async with self.db.write() as s:
            await s.execute(update(DirectoryVersion).where(DirectoryVersion.state == "loading")
                            .values(state="retired"))
            row = DirectoryVersion(state="loading", source=source[:1000], sha256="",
                                   started_at=datetime.now(UTC), lines=0, imported=0,
                                   merged=0, rejected=0, segments=0)
            s.add(row)
            await s.flush()
            return row.id

    async def _load(self, parsed: Iterator[bytes], load: _Load) -> None:
        reader = BlockReader(parsed, workers=self.workers, block=self.chunk_rows)
        async for block in reader.blocks():
            entries = load.take(block)
            full = load.segment_entries >= self.segment_rows
            await self._write(_Batch(entries, load.close_segment() if full else []), load.report)
            self.progress("read", load.bytes_read)
        await self._write(_Batch([], load.close_segment()), load.report)

    async def _write(self, batch: _Batch, report: ImportReport) -> None:
        if batch.entries:
            async with self.db.write() as s:
                await bulk_insert(s, "directory_entry", ENTRY_COLUMNS, batch.entries)
            report.imported += len(batch.entries)
        for start in range(0, len(batch.postings), self.posting_chunk):
            rows = batch.postings[start:start + self.posting_chunk]
            async with self.db.write() as s:
                await bulk_insert(s, "directory_posting", POSTING_COLUMNS, rows)
            report.tokens += sum(len(r[3]) for r in rows) // 4

    async def _switch(self, version: int, report: ImportReport) -> None:
        if report.imported == 0:
            raise DirectoryImportError("no valid row in the file: the served directory "
                                       "is unchanged")
        async with self.db.write() as s:
            if s.get_bind().dialect.name == "postgresql":
                await s.execute(text("SELECT pg_advisory_xact_lock(6006)"))
            row = await s.get(DirectoryVersion, version, with_for_update=True)
            if row is None or row.state != "loading":
                raise DirectoryImportError("superseded by a newer import")
            report.previous_version = (await s.execute(select(DirectoryVersion.id).where(
                DirectoryVersion.state == "active"))).scalar()
            await s.execute(update(DirectoryVersion).where(DirectoryVersion.state == "active")
                            .values(state="retired"))
            row.state, row.activated_at, row.sha256 = "active", datetime.now(UTC), report.sha256
            row.lines, row.imported, row.merged = report.lines, report.imported, report.merged
            row.rejected, row.segments = report.rejected, report.segments

    async def _abandon(self, version: int) -> None:
        async with self.db.write() as s:
            await s.execute(update(DirectoryVersion).where(
                DirectoryVersion.id == version, DirectoryVersion.state == "loading")
                .values(state="retired"))


async def purge_retired(db: Database, chunk: int = 50_000) -> int:
    """Delete the rows of every `retired` version, in chunks; returns how many versions."""
    async with db.read() as s:
        retired = (await s.execute(select(DirectoryVersion.id).where(
            DirectoryVersion.state == "retired"))).scalars().all()
    for version in retired:
        await purge_version(db, version, chunk)
    return len(retired)
