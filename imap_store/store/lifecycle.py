"""Executing the inactivity lifecycle of BALs (R28): the facts, and each transition.

Owns: `BalFacts` and `scan` (what the `inactivity` job decides on, read in
pages by id), the transitions `unpublish`, `record_notice`, `delete` and
`reactivate_tx` (a login or `mss bal keep` resets the clock), the notice
address, and the reservation of the addresses of deleted BALs.

Invariants:
- every transition is one write transaction that re-reads the BAL and goes
  ahead only when its last activity is still the one the decision was made
  on (a login in between wins), writes its audit row (`bal.lifecycle`,
  never content) and a `publication_event` (the outbox) in that transaction;
- `delete` first sets the BAL's status to `deleting` (logins refused, mail
  `550 5.2.1`, open sessions ended, as for a suspension) so that nothing
  comes back meanwhile, removes the content in short batches
  (`retention.Purger`),
  then, in one transaction, the folders, the data keys (crypto-shredding:
  the stored ciphertext can no longer be decrypted), the BAL row and its
  directory entry, and reserves the address until `reserved_until`; later
  mail to it gets `550 5.1.1` (unknown BAL), and `Accounts.create_bal`
  refuses the address while it is reserved;
- `reactivate_tx` publishes again (unless liste rouge or suspended) only a
  BAL the lifecycle unpublished.

Ref: R28 (unpublish at 60 days, notice, delete at one year, login resets);
R13 (publication outbox); R24 (audit without content).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .audit_rows import add_audit
from .db import Database
from .interfaces import AuditEvent
from .keys import DataKeys
from .models import AddressReservation, Bal, BalKey, Folder, MailboxEntry, MessageContent
from .publication import DirectoryIndex, lifecycle_event, set_published
from .retention import Purger

FACT_COLUMNS = (Bal.id, Bal.address, Bal.bal_type, Bal.status, Bal.created_at,
                Bal.last_login_at, Bal.kept_at, Bal.lifecycle_state, Bal.notice_days,
                Bal.notice_at, Bal.notice_address)


@dataclass(frozen=True)
class BalFacts:
    id: int
    address: str
    bal_type: str
    status: str
    created_at: datetime
    last_login_at: datetime | None
    kept_at: datetime | None
    lifecycle_state: str
    notice_days: int | None
    notice_at: datetime | None
    notice_address: str | None

    @property
    def last_activity(self) -> datetime:
        """The last login on any protocol, the last `mss bal keep`, else the creation."""
        return max(aware(t) for t in (self.created_at, self.last_login_at, self.kept_at)
                   if t is not None)


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _facts_of(values: Sequence[Any]) -> BalFacts:
    """Facts from stored values, datetimes made UTC-aware (SQLite stores them naive)."""
    fixed: list[Any] = [aware(v) if isinstance(v, datetime) else v for v in values]
    return BalFacts(*fixed)


def _facts(row: Bal) -> BalFacts:
    return _facts_of([getattr(row, c.key) for c in FACT_COLUMNS])


class Lifecycle:
    """The store side of the `inactivity` job, `mss bal keep` and the notice address."""

    def __init__(self, db: Database, keys: DataKeys, index: DirectoryIndex,
                 purger: Purger) -> None:
        self.db, self.keys, self.index, self.purger = db, keys, index, purger
        self.longest: dict[str, float] = {}
        """The longest write transaction of each kind of transition, in seconds (bench)."""

    def _timed(self, kind: str, started: float) -> None:
        took = time.perf_counter() - started
        self.longest[kind] = max(self.longest.get(kind, 0.0), took)

    async def scan(self, after: int, limit: int) -> list[BalFacts]:
        async with self.db.read() as s:
            rows = (await s.execute(select(*FACT_COLUMNS).where(Bal.id > after)
                                    .order_by(Bal.id).limit(limit))).all()
        return [_facts_of(r) for r in rows]

    async def _current(self, s: AsyncSession, facts: BalFacts) -> Bal | None:
        """The BAL, locked, if its last activity is still the one decided on."""
        row = await s.get(Bal, facts.id, with_for_update=True, populate_existing=True)
        if row is None or _facts(row).last_activity != facts.last_activity:
            return None
        return row

    async def unpublish(self, facts: BalFacts, now: datetime, idle_days: int) -> bool:
        started = time.perf_counter()
        async with self.db.write() as s:
            row = await self._current(s, facts)
            if row is None or row.lifecycle_state != "active":
                return False
            row.lifecycle_state = "unpublished"
            if not await set_published(s, row.id, False, "inactive", now, self.index):
                await lifecycle_event(s, row, "inactive", now)
            add_audit(s, [_event(row.address, "unpublished", {"idle_days": idle_days})])
        self._timed("unpublish", started)
        return True

    async def record_notice(self, facts: BalFacts, days: int, to: str, now: datetime,
                            delete_on: datetime) -> bool:
        started = time.perf_counter()
        async with self.db.write() as s:
            row = await self._current(s, facts)
            if row is None:
                return False
            row.notice_days, row.notice_at = days, now
            add_audit(s, [_event(row.address, "notice", {
                "days_before": days, "to": to, "delete_on": delete_on.date().isoformat()})])
        self._timed("notice", started)
        return True

    async def delete(self, facts: BalFacts, now: datetime, reserved_until: datetime) -> bool:
        """Delete the BAL for inactivity (see the module docstring)."""
        async with self.db.write() as s:
            row = await self._current(s, facts)
            if row is None:
                return False
            row.status = "deleting"  # from here on: no login, mail refused (550 5.2.1)
        async with self.db.read() as s:
            folders = (await s.execute(select(Folder.id).where(
                Folder.bal_id == facts.id))).scalars().all()
        purged = 0
        for folder_id in folders:
            purged += len(await self.purger.purge(facts.id, folder_id, None))
        started = time.perf_counter()
        async with self.db.write() as s:
            row = await self._current(s, facts)
            if row is None:
                return False
            await set_published(s, row.id, False, "deleted", now, self.index)
            await lifecycle_event(s, row, "deleted (inactivity)", now)
            add_audit(s, [_event(row.address, "deleted", {
                "messages": purged, "reserved_until": reserved_until.date().isoformat()})])
            ids = select(Folder.id).where(Folder.bal_id == row.id)
            await s.execute(delete(MailboxEntry).where(MailboxEntry.folder_id.in_(ids)))
            await s.execute(delete(MessageContent).where(MessageContent.bal_id == row.id))
            await s.execute(delete(Folder).where(Folder.bal_id == row.id))
            await s.execute(delete(BalKey).where(BalKey.bal_id == row.id))
            await s.merge(AddressReservation(address=row.address, reserved_until=reserved_until,
                                             reason="inactivity", created_at=now))
            await s.delete(row)
        self._timed("delete", started)
        self.keys.forget(facts.id)
        await self.db.checkpoint()
        return True

    async def keep(self, bal_id: int, now: datetime) -> bool:
        """`mss bal keep`: an objection; resets the clock (and republishes)."""
        async with self.db.write() as s:
            await s.execute(update(Bal).where(Bal.id == bal_id).values(kept_at=now))
            return await reactivate_tx(s, bal_id, "keep", now, self.index, force_audit=True)

    async def set_notice_address(self, bal_id: int, address: str | None) -> None:
        async with self.db.write() as s:
            await s.execute(update(Bal).where(Bal.id == bal_id).values(notice_address=address))


async def reactivate_tx(s: AsyncSession, bal_id: int, by: str, now: datetime,
                        index: DirectoryIndex, *, force_audit: bool = False) -> bool:
    """In the caller's transaction: reset the lifecycle of a BAL that was active again
    (a login, `mss bal keep`); publish it again if the lifecycle had unpublished it."""
    row = await s.get(Bal, bal_id, with_for_update=True, populate_existing=True)
    if row is None:
        return False
    was = row.lifecycle_state
    if was == "active" and row.notice_days is None and not force_audit:
        return False
    row.lifecycle_state, row.notice_days, row.notice_at = "active", None, None
    if was != "active":
        wanted = row.status == "active"
        if not await set_published(s, row.id, wanted, f"active again ({by})", now, index):
            await lifecycle_event(s, row, f"active again ({by})", now)
    add_audit(s, [_event(row.address, "reactivated", {"by": by, "was": was})])
    return True


async def reserved_until(s: AsyncSession, address: str, now: datetime) -> datetime | None:
    """Until when `address` is kept from reuse (a BAL deleted for inactivity), or None."""
    until = (await s.execute(select(AddressReservation.reserved_until).where(
        AddressReservation.address == address))).scalar()
    return aware(until) if until is not None and aware(until) > now else None


def _event(address: str, step: str, detail: dict[str, object]) -> AuditEvent:
    return AuditEvent("bal.lifecycle", protocol="lifecycle", bal=address,
                      detail={"step": step, **detail})
