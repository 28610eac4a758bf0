"""Directory search: the imported Annuaire Santé and the local published BALs.

Owns: `DirectorySearch.search(query, limit) -> SearchAnswer`, `active()` (the
served version) and the `DirectoryResult` value the CLI and the HTTP API show.

Invariants:
- Only the `active` imported version and the local entries (version 0) are
  searched, each in one read transaction, so an import never shows half a
  version.
- A BAL of ours is shown only while it is published, not on liste rouge and
  active; this holds for its imported entry too (our own state wins over a
  stale national extraction). A liste-rouge BAL never appears (R12, R13).
- Results that share a name (`name_key`) with another person, in the results
  or in the whole imported version, are marked `homonym` with the number of
  persons sharing it (R14). One person (RPPS) with several BALs is not a homonym.
- An address query (`x@y`) looks that address up exactly (its own token).

Ref: R12, R13, R14; FAQ 5 ("beware of homonyms").
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from imap_store.store.db import Database
from imap_store.store.models import Bal

from . import text as dt
from .extraction import COLUMNS, city_of
from .matching import (
    Scores,
    Word,
    address_word,
    combine,
    imported_scores,
    local_scores,
    plan_words,
)
from .models import DirectoryEntry, DirectoryHomonym, DirectoryVersion
from .rows import split_fields

MAX_LIMIT = 100
E, B = DirectoryEntry, Bal


class QueryError(ValueError):
    """The query has no usable word (too short, only stop words)."""


@dataclass(frozen=True)
class ActiveVersion:
    id: int
    segments: int
    source: str
    activated_at: datetime | None
    lines: int
    imported: int
    merged: int
    rejected: int


@dataclass(frozen=True)
class DirectoryResult:
    """One BAL as shown to a person checking a recipient (R14)."""

    address: str
    bal_type: str
    rpps: str | None
    civility: str | None
    last_name: str | None
    first_name: str | None
    profession: str | None
    specialty: str | None
    structure: str | None
    service: str | None
    structure_id: str | None
    postcode: str | None
    city: str | None
    departement: str | None
    source: str
    score: int = 0
    published: bool = True
    """Always true: only published BALs are ever shown (R13); kept for the reader."""
    homonym: bool = False
    namesakes: int = 1
    name_key: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "name_key"}


@dataclass(frozen=True)
class SearchAnswer:
    query: str
    words: tuple[str, ...]
    version: int | None
    results: list[DirectoryResult]


def _result(fields: str, source: str, score: int, name_key: str | None) -> DirectoryResult:
    values = split_fields(fields)
    row = dict(zip(COLUMNS, values, strict=False))
    return DirectoryResult(
        address=row["address"] or "", bal_type=row["bal_type"] or "", rpps=row["pp_id"],
        civility=row["civility"], last_name=row["last_name"], first_name=row["first_name"],
        profession=row["profession"], specialty=row["specialty"],
        structure=row["structure_name"] or row["structure_brand"], service=row["service"],
        structure_id=row["structure_id"], postcode=row["postcode"],
        city=city_of(values), departement=row["departement"],
        source=source, score=score, name_key=name_key)


def _visible(row: Row[Any]) -> bool:
    if row.bal_id_ is None:
        return True
    return bool(row.published and not row.liste_rouge and row.status == "active")


def _entries(version: int, local: bool) -> Select[*tuple[Any, ...]]:
    cols = (E.version_id, E.entry_no, E.fields, E.pp_id, E.name_key, B.id.label("bal_id_"),
            B.published, B.liste_rouge, B.status)
    joined = E.__table__.join(B, B.id == E.bal_id) if local else E.__table__.outerjoin(
        B, B.address == E.address)
    return select(*cols).select_from(joined).where(E.version_id == version)


class DirectorySearch:
    """Read side of the directory."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def active(self) -> ActiveVersion | None:
        async with self.db.read() as s:
            return await _active(s)

    async def search(self, query: str, limit: int = 20) -> SearchAnswer:
        limit = max(1, min(limit, MAX_LIMIT))
        async with self.db.read() as s:
            version = await _active(s)
            vid = version.id if version else None
            plan = (address_word(query),) if "@" in query else plan_words(query)
            if not plan:
                raise QueryError("the query has no word of 2 characters or more")
            words = tuple(w.text for w in plan)
            rows = await _ranked(s, version, plan, limit)
            results = _dedupe([r for r in rows if r.source != "hidden"])
            results = await _mark_homonyms(s, vid, results)
        results.sort(key=lambda r: (-r.score, dt.fold(r.last_name or ""),
                                    dt.fold(r.first_name or ""), r.address))
        return SearchAnswer(query, words, vid, results[:limit])


async def _active(s: AsyncSession) -> ActiveVersion | None:
    v = DirectoryVersion
    row = (await s.execute(select(v.id, v.segments, v.source, v.activated_at, v.lines,
                                  v.imported, v.merged, v.rejected)
                           .where(v.state == "active").order_by(v.id.desc()).limit(1))).first()
    return ActiveVersion(*row) if row is not None else None


async def _fetch(s: AsyncSession, version: int, numbers: list[int], local: bool,
                 scores: Scores) -> list[DirectoryResult]:
    if not numbers:
        return []
    rows = await s.execute(_entries(version, local).where(E.entry_no.in_(numbers)))
    source = "local" if local else "annuaire"
    return [_result(r.fields, source if _visible(r) else "hidden", scores[r.entry_no],
                    r.name_key) for r in rows]


async def _ranked(s: AsyncSession, version: ActiveVersion | None, plan: tuple[Word, ...],
                  limit: int) -> list[DirectoryResult]:
    imported: Scores = {}
    if version is not None:
        imported = combine(await imported_scores(s, version.id, version.segments, plan))
    local = combine(await local_scores(s, plan))
    keep = 3 * limit + 10
    best = heapq.nlargest(keep, [(sc, -n, False) for n, sc in imported.items()]
                          + [(sc, -n, True) for n, sc in local.items()])
    numbers = [-n for _sc, n, is_local in best if not is_local]
    bal_ids = [-n for _sc, n, is_local in best if is_local]
    found = await _fetch(s, version.id, numbers, False, imported) if version else []
    return found + await _fetch(s, 0, bal_ids, True, local)


def _dedupe(results: list[DirectoryResult]) -> list[DirectoryResult]:
    """One result per address: the imported entry, marked local when it is ours too."""
    by_address: dict[str, DirectoryResult] = {}
    for r in sorted(results, key=lambda r: r.source != "annuaire"):
        seen = by_address.get(r.address)
        if seen is None:
            by_address[r.address] = r
        elif r.source == "local":
            by_address[r.address] = replace(seen, source="annuaire+local",
                                            score=max(seen.score, r.score))
    return list(by_address.values())


async def _mark_homonyms(s: AsyncSession, version: int | None,
                         results: list[DirectoryResult]) -> list[DirectoryResult]:
    keys = {r.name_key for r in results if r.name_key}
    shared: dict[str, int] = {}
    if keys and version is not None:
        rows = await s.execute(select(DirectoryHomonym.name_key, DirectoryHomonym.persons)
                               .where(DirectoryHomonym.version_id == version,
                                      DirectoryHomonym.name_key.in_(keys)))
        shared = {k: n for k, n in rows}
    persons: dict[str, set[str]] = {}
    for r in results:
        if r.name_key:
            persons.setdefault(r.name_key, set()).add(r.rpps or r.address)
    out = []
    for r in results:
        count = max(shared.get(r.name_key or "", 1), len(persons.get(r.name_key or "", ())))
        out.append(replace(r, homonym=count > 1, namesakes=count) if r.name_key else r)
    return out

