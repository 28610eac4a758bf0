"""Per-BAL quotas: limits, usage counters, the check every adding write makes.

Owns: `QuotaDefaults` (`[quota] default_bytes`, `default_messages`),
`QuotaState` (a BAL's usage and effective limits), `OverQuota` (the refusal
APPEND and COPY raise), the session helpers that read and move the counters
(`usage_in`, `check_room`, `moved`), `recount` (usage computed again from the
entries, to verify the counters) and `QuotaStore` (GETQUOTA, `mss bal set
--quota-*`, the `quota-warn` job's reads and its notice level).

Invariants:
- Usage is per BAL: bytes are the sum over every entry of every folder of the
  message's RFC822.SIZE (a COPY counts again: it is another entry), messages
  the number of entries. The counters live on the folder rows
  (`folder.used_bytes`, `folder.used_messages`), beside the UID allocator,
  and each write moves them in its own transaction, on the folder row it has
  locked anyway: delivery and APPEND (`message_ops.allocate_tx`: the UPDATE
  of `uidnext` also adds the size, no extra statement), COPY, MOVE,
  EXPUNGE, RENAME of INBOX; deleting a folder or a BAL deletes its counters
  with it. The sum over a BAL's folders is therefore exact under concurrent
  writers; `recount` must always agree with it.
- Limits: the BAL's own value, else the configured default; 0 means none.
- The check is on what a write adds: APPEND and COPY are refused
  (`OverQuota`, IMAP `NO [OVERQUOTA]`) when the usage after them would exceed
  a limit; a write that adds nothing (MOVE inside the BAL, EXPUNGE) is never
  refused, so a full BAL can always be cleaned up. The usage read for the
  check is the committed one: deliveries committing at the same instant may
  take a BAL past its limit by those messages (a message accepted at RCPT
  is never lost for the quota, R25); the next RCPT is then refused.

Ref: RFC 9208 (quota roots; STORAGE, in units of 1024 octets, and MESSAGE
resources; the OVERQUOTA response code); R25.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from .db import Database
from .folder_ops import FolderError
from .models import Bal, MailboxEntry, MessageContent
from .models import Folder as FolderRow

WARN_LEVELS = (80, 95)
"""Near-quota notice levels, in percent of the nearest limit (R25)."""


@dataclass(frozen=True)
class QuotaDefaults:
    """`[quota] default_bytes` and `default_messages` (0: no limit)."""

    bytes: int = 0
    messages: int = 0


NO_QUOTA = QuotaDefaults()
"""No configured default: only BALs with their own limits have any."""


@dataclass(frozen=True)
class QuotaState:
    """A BAL's usage and its effective limits (0: none)."""

    used_bytes: int = 0
    used_messages: int = 0
    limit_bytes: int = 0
    limit_messages: int = 0

    @property
    def limited(self) -> bool:
        return bool(self.limit_bytes or self.limit_messages)

    def room_for(self, add_bytes: int, add_messages: int) -> bool:
        """Whether a write adding this much stays within every limit; adding nothing fits."""
        if add_bytes <= 0 and add_messages <= 0:
            return True
        over_bytes = bool(self.limit_bytes) and self.used_bytes + add_bytes > self.limit_bytes
        over_count = (bool(self.limit_messages)
                      and self.used_messages + add_messages > self.limit_messages)
        return not (over_bytes or over_count)

    @property
    def percent(self) -> int:
        """Usage in percent of the nearest limit (0 without limits), rounded down."""
        shares = [100 * used // limit for used, limit in (
            (self.used_bytes, self.limit_bytes), (self.used_messages, self.limit_messages))
            if limit]
        return max(shares, default=0)

    def warn_level(self) -> int:
        """The highest `WARN_LEVELS` entry the usage has reached (0: none)."""
        return max((lvl for lvl in WARN_LEVELS if self.percent >= lvl), default=0)


class OverQuota(FolderError):
    """A write would take the BAL beyond its quota (IMAP `NO [OVERQUOTA]`, RFC 9208)."""

    def __init__(self) -> None:
        super().__init__("overquota", "Quota exceeded")


def effective(own: int | None, default: int) -> int:
    """The BAL's limit: its own value when set, else the configured default."""
    return default if own is None else own


def state_of(defaults: QuotaDefaults, quota_bytes: int | None, quota_messages: int | None,
             used_bytes: int | None, used_messages: int | None) -> QuotaState:
    """A `QuotaState` from the stored columns and the defaults."""
    return QuotaState(int(used_bytes or 0), int(used_messages or 0),
                      effective(quota_bytes, defaults.bytes),
                      effective(quota_messages, defaults.messages))


def usage_columns(bal_id: Any) -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """Scalar subqueries of a BAL's usage (sum over its folders' counters)."""
    f = FolderRow.__table__.c
    used_bytes = (select(func.coalesce(func.sum(f.used_bytes), 0))
                  .where(f.bal_id == bal_id).scalar_subquery())
    used_messages = (select(func.coalesce(func.sum(f.used_messages), 0))
                     .where(f.bal_id == bal_id).scalar_subquery())
    return used_bytes, used_messages


async def usage_in(s: AsyncSession, bal_id: int, defaults: QuotaDefaults) -> QuotaState:
    """The BAL's usage and limits as this transaction sees them (one statement)."""
    used_bytes, used_messages = usage_columns(Bal.id)
    row = (await s.execute(select(Bal.quota_bytes, Bal.quota_messages, used_bytes,
                                  used_messages).where(Bal.id == bal_id))).first()
    if row is None:
        return QuotaState()
    return state_of(defaults, *row)


async def check_room(s: AsyncSession, bal_id: int, defaults: QuotaDefaults,
                     add_bytes: int, add_messages: int) -> None:
    """Raise `OverQuota` unless the BAL has room for what the write adds: one
    statement (limits and usage together); none for a write that adds nothing."""
    if add_bytes <= 0 and add_messages <= 0:
        return
    if not (await usage_in(s, bal_id, defaults)).room_for(add_bytes, add_messages):
        raise OverQuota


def moved(folder: FolderRow, add_bytes: int, add_messages: int) -> None:
    """Move a locked folder row's counters (negative values: entries removed)."""
    folder.used_bytes += add_bytes
    folder.used_messages += add_messages


async def recount(s: AsyncSession, bal_id: int) -> tuple[int, int]:
    """(bytes, messages) computed from the BAL's entries, not from the counters."""
    row = (await s.execute(
        select(func.coalesce(func.sum(MessageContent.size), 0), func.count(MailboxEntry.id))
        .select_from(MailboxEntry)
        .join(MessageContent, MessageContent.id == MailboxEntry.content_id)
        .join(FolderRow, FolderRow.id == MailboxEntry.folder_id)
        .where(FolderRow.bal_id == bal_id))).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class WarnCandidate:
    """A BAL the `quota-warn` job looks at."""

    bal_id: int
    address: str
    state: QuotaState
    warned: int


class QuotaStore:
    """Quota reads and admin writes outside the message paths."""

    def __init__(self, db: Database, defaults: QuotaDefaults = NO_QUOTA) -> None:
        self.db = db
        self.defaults = defaults

    async def state(self, bal_id: int) -> QuotaState:
        async with self.db.read() as s:
            return await usage_in(s, bal_id, self.defaults)

    async def recount(self, bal_id: int) -> tuple[QuotaState, tuple[int, int]]:
        """The counters' view and the recount from the entries, read in one transaction."""
        async with self.db.read() as s:
            return await usage_in(s, bal_id, self.defaults), await recount(s, bal_id)

    async def set_limits(self, bal_id: int, quota_bytes: int | None,
                         quota_messages: int | None) -> None:
        """Set the BAL's own limits (None leaves one unchanged)."""
        values = {k: v for k, v in (("quota_bytes", quota_bytes),
                                    ("quota_messages", quota_messages)) if v is not None}
        if not values:
            return
        async with self.db.write() as s:
            await s.execute(update(Bal).where(Bal.id == bal_id).values(**values))

    async def candidates(self, after_id: int, limit: int) -> list[WarnCandidate]:
        """Active BALs by id after `after_id`, with their usage and the level warned."""
        used_bytes, used_messages = usage_columns(Bal.id)
        async with self.db.read() as s:
            rows = (await s.execute(
                select(Bal.id, Bal.address, Bal.quota_bytes, Bal.quota_messages, used_bytes,
                       used_messages, Bal.quota_warned)
                .where(Bal.id > after_id, Bal.status == "active")
                .order_by(Bal.id).limit(limit))).all()
        return [WarnCandidate(r[0], r[1], state_of(self.defaults, r[2], r[3], r[4], r[5]),
                              int(r[6])) for r in rows]

    async def mark_warned(self, bal_id: int, before: int, level: int) -> bool:
        """Record `level` as warned if it was still `before` (False: someone else did)."""
        async with self.db.write() as s:
            done = await s.execute(update(Bal).where(
                Bal.id == bal_id, Bal.quota_warned == before).values(quota_warned=level))
            return bool(getattr(done, "rowcount", 0))
