"""Per-BAL data keys: creation, unwrapping, a short-lived cache, shredding.

Invariants: a data key is stored only wrapped by the KEK (`bal_key.wrapped`);
unwrapped keys stay in memory at most `ttl` seconds, and `cached_current`
(the key a delivery seals with, without reading the database) gives only a
key still held; `forget` drops them at
once (BAL deletion in this process); in a running server `KeyWatch` drops,
within `interval` seconds, the keys whose row is gone (a BAL deleted by
another process, `mss bal delete`, even when a new BAL got its id since: a
key is known by its row's creation time too) and those past their time,
whether or not anything asks for a key meanwhile.

Rotation (`rotate`) adds a newer key version; contents keep the version they
were sealed with (read back with it), new contents take the newest version.
The newest version of each BAL is remembered with its cached key (no read per
delivery); `KeyWatch` forgets it within `interval` seconds when another
process rotated, so new contents use the new key from then on.

Ref: docs/architecture.md "Encryption at rest".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .crypto import DataKey, DecryptionError, KeyProvider, key_aad, new_data_key
from .db import Database
from .group_commit import Row, Unit
from .models import BalKey
from .periodic import every
from .read_pool import as_datetime

ReadRun = Callable[[Unit[Any]], Awaitable[Any]]
"""How a read unit is run: `Database.reader.run`."""


class DataKeys:
    """Looks up, creates and caches the data keys of BALs."""

    def __init__(self, provider: KeyProvider, ttl: float = 60.0) -> None:
        self.provider = provider
        self.ttl = ttl
        self._cache: dict[tuple[int, int], tuple[DataKey, float, datetime]] = {}
        self._current: dict[int, int] = {}

    async def create(self, session: AsyncSession, bal_id: int, version: int = 1) -> DataKey:
        raw = new_data_key()
        wrapped = self.provider.wrap(raw, key_aad(bal_id, version))
        created = datetime.now(UTC)
        session.add(BalKey(bal_id=bal_id, version=version, kek_id=self.provider.kek_id,
                           wrapped=wrapped, created_at=created))
        key = DataKey(bal_id, version, raw)
        self._remember(key, created)
        return key

    async def current(self, session: AsyncSession, bal_id: int) -> DataKey:
        """The newest key of the BAL (used to encrypt new contents)."""
        version = self._current.get(bal_id)
        cached = self._cache.get((bal_id, version)) if version is not None else None
        if cached and cached[1] > time.monotonic():
            return cached[0]
        row = (await session.execute(
            select(BalKey).where(BalKey.bal_id == bal_id)
            .order_by(BalKey.version.desc()).limit(1))).scalar_one_or_none()
        if row is None:
            raise DecryptionError(f"BAL {bal_id} has no data key")
        key = self._unwrap(row)
        self._current[bal_id] = key.version
        return key

    async def rotate(self, session: AsyncSession, bal_id: int) -> DataKey:
        """A new, newer data key version for the BAL (the older ones stay for reading)."""
        newest = (await session.execute(select(func.max(BalKey.version))
                                        .where(BalKey.bal_id == bal_id))).scalar()
        if newest is None:
            raise DecryptionError(f"BAL {bal_id} has no data key")
        return await self.create(session, bal_id, newest + 1)

    def cached_current(self, bal_id: int) -> DataKey | None:
        """The newest key of the BAL if `current` gave it less than `ttl` seconds ago and
        nothing dropped it since (`forget`, `expire`, `drop_deleted`); else None."""
        version = self._current.get(bal_id)
        cached = None if version is None else self._cache.get((bal_id, version))
        if cached is None or cached[1] <= time.monotonic():
            return None
        return cached[0]

    async def get(self, session: AsyncSession, bal_id: int, version: int) -> DataKey:
        cached = self._cache.get((bal_id, version))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        self._cache.pop((bal_id, version), None)
        row = await session.get(BalKey, (bal_id, version))
        if row is None:
            raise DecryptionError(f"BAL {bal_id} key v{version} is gone")
        return self._unwrap(row)

    def cached(self, bal_id: int, version: int) -> DataKey | None:
        """The key `version` of the BAL if held and still within its time."""
        cached = self._cache.get((bal_id, version))
        return cached[0] if cached and cached[1] > time.monotonic() else None

    async def read_key(self, read: ReadRun, bal_id: int, version: int) -> DataKey:
        """`get` through a read unit (`read_pool.ReadPool.run`), without a session."""
        key = self.cached(bal_id, version)
        if key is not None:
            return key
        rows = await read(partial(_key_rows, _KEY_SQL, bal_id, version))
        if not rows:
            raise DecryptionError(f"BAL {bal_id} key v{version} is gone")
        return self._unwrap_values(*rows[0])

    async def read_current(self, read: ReadRun, bal_id: int) -> DataKey:
        """`current` through a read unit, without a session."""
        key = self.cached_current(bal_id)
        if key is not None:
            return key
        rows = await read(partial(_key_rows, _CURRENT_SQL, bal_id))
        if not rows:
            raise DecryptionError(f"BAL {bal_id} has no data key")
        key = self._unwrap_values(*rows[0])
        self._current[bal_id] = key.version
        return key

    def forget(self, bal_id: int) -> None:
        self._current.pop(bal_id, None)
        for k in [k for k in self._cache if k[0] == bal_id]:
            del self._cache[k]

    def holds(self, bal_id: int) -> bool:
        """Whether an unwrapped key of the BAL is in memory."""
        return any(k[0] == bal_id for k in self._cache)

    def holds_any(self) -> bool:
        return bool(self._cache)

    def expire(self) -> None:
        """Drop the keys past their time."""
        now = time.monotonic()
        for k in [k for k, (_, until, _) in self._cache.items() if until <= now]:
            del self._cache[k]

    async def drop_deleted(self, session: AsyncSession) -> None:
        """Drop the cached keys whose row is gone (their BAL was deleted elsewhere), and
        the newest version remembered for a BAL that has a newer one (rotated elsewhere)."""
        held = sorted({k[0] for k in self._cache})
        present: dict[tuple[int, int], datetime] = {}
        for start in range(0, len(held), 500):
            rows = await session.execute(select(BalKey.bal_id, BalKey.version, BalKey.created_at)
                                         .where(BalKey.bal_id.in_(held[start:start + 500])))
            present.update(((r[0], r[1]), _stamp(r[2])) for r in rows)
        # A row with another creation time is another BAL's key under a reused id.
        for k in [k for k, c in self._cache.items() if present.get(k) != c[2]]:
            del self._cache[k]
            self._current.pop(k[0], None)
        newest: dict[int, int] = {}
        for bal_id, version in present:
            newest[bal_id] = max(version, newest.get(bal_id, 0))
        for bal_id in [b for b, v in self._current.items() if newest.get(b, v + 1) != v]:
            del self._current[bal_id]

    def _unwrap(self, row: BalKey) -> DataKey:
        return self._unwrap_values(row.bal_id, row.version, row.wrapped, row.created_at)

    def _unwrap_values(self, bal_id: int, version: int, wrapped: bytes,
                       created_at: object) -> DataKey:
        raw = self.provider.unwrap(bytes(wrapped), key_aad(bal_id, version))
        key = DataKey(bal_id, version, raw)
        self._remember(key, as_datetime(created_at))
        return key

    def _remember(self, key: DataKey, created: datetime) -> None:
        until = time.monotonic() + self.ttl
        self._cache[(key.bal_id, key.version)] = (key, until, _stamp(created))
        if key.version > self._current.get(key.bal_id, key.version):
            self._current[key.bal_id] = key.version  # this process rotated


_KEY_SQL = ("SELECT bal_id, version, wrapped, created_at FROM bal_key "
            "WHERE bal_id = $1 AND version = $2")
_CURRENT_SQL = ("SELECT bal_id, version, wrapped, created_at FROM bal_key "
                "WHERE bal_id = $1 ORDER BY version DESC LIMIT 1")


async def _key_rows(sql: str, *args_and_tx: Any) -> list[Row]:
    *args, tx = args_and_tx
    rows: list[Row] = await tx.fetch(sql, *args)
    return rows


def _stamp(when: datetime) -> datetime:
    """A key row's creation time as both databases give it back (naive UTC)."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


class KeyWatch:
    """Keeps a server's key cache true to the database; see the module docstring."""

    def __init__(self, db: Database, keys: DataKeys, interval: float = 1.0) -> None:
        self.db, self.keys, self.interval = db, keys, interval

    async def poll_once(self) -> None:
        self.keys.expire()
        if self.keys.holds_any():
            async with self.db.read() as s:
                await self.keys.drop_deleted(s)

    async def run(self) -> None:
        """Poll until cancelled (`periodic.every`: a poll under way is never cut)."""
        await every(self.interval, self.poll_once, "data key poll")
