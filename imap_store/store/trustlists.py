"""Stored versions of the ANS trust list (raw XML, compressed).

The store keeps bytes and identifiers only; parsing belongs to `policy`.
Versions are identified by `DateDeGeneration` and SHA-256; importing the same
bytes twice keeps one row.

Ref: R1.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from .db import Database
from .models import TrustListVersion


@dataclass(frozen=True)
class StoredTrustList:
    id: int
    generated_at: datetime
    sha256: str
    source: str
    imported_at: datetime
    domains: int


def _info(row: TrustListVersion) -> StoredTrustList:
    return StoredTrustList(row.id, row.generated_at, row.sha256, row.source,
                           row.imported_at, row.domains)


class TrustListStore:
    """Saves and loads trust-list versions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, raw: bytes, *, generated_at: datetime, sha256: str, source: str,
                   domains: int) -> tuple[StoredTrustList, bool]:
        """Store a version; returns it and whether it was new."""
        async with self.db.write() as s:
            old = (await s.execute(select(TrustListVersion).where(
                TrustListVersion.sha256 == sha256))).scalar_one_or_none()
            if old is not None:
                return _info(old), False
            row = TrustListVersion(generated_at=generated_at, sha256=sha256, source=source,
                                   imported_at=datetime.now(UTC), domains=domains,
                                   data=zlib.compress(raw, 6))
            s.add(row)
            await s.flush()
            return _info(row), True

    async def latest_id(self) -> int | None:
        async with self.db.read() as s:
            return (await s.execute(select(TrustListVersion.id)
                                    .order_by(TrustListVersion.id.desc()).limit(1))).scalar()

    async def load(self, version_id: int) -> tuple[StoredTrustList, bytes] | None:
        async with self.db.read() as s:
            row = await s.get(TrustListVersion, version_id)
            return (_info(row), zlib.decompress(row.data)) if row else None
