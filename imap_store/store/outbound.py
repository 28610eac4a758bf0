"""The outbound queue as the relay and the admin verbs use it.

Owns: `OutboundQueue` (claim due rows, read a row's message, record the
outcome of an attempt, expire, list, retry, delete) and `QueuedMessage`
(one claimed row). Intake writes the rows (`delivery`); nothing else does.

Invariants:
- a row is sent by one process at a time: `claim` takes due rows that no
  live claim holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
  writer) and stamps them `claimed_until = now + lease` in the same
  transaction; every later write about the row is conditional on that stamp,
  so a process whose claim lapsed changes nothing;
- an idle queue costs a read per poll: `claim` takes the write lock only when
  an unclaimed row matches (the write transaction checks again);
- a row's `recipients` are those still to deliver, its DSN parameters (RFC
  3461) go with it, and `dsn_delayed` names the recipients already sent their
  one delay report; an attempt's outcome and
  its audit records (one per recipient) commit in one transaction; the row
  and its sealed content go together when no recipient is left;
- the message is decrypted with the sending BAL's key only to be sent, in a
  worker thread for a large one; it is never written in clear.

Ref: RFC 5321 4.5.4.1 (retry strategy), 6.1 (reliable delivery); R4, R7, R24.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .audit_rows import add_audit
from .db import Database
from .interfaces import AuditEvent
from .keys import DataKeys
from .models import MessageContent, OutboundMessage
from .offload import by_size


@dataclass(frozen=True)
class QueuedMessage:
    """One outbound row as claimed (or listed)."""

    id: int
    content_id: str
    bal_id: int
    domain: str
    mail_from: str
    recipients: tuple[str, ...]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    last_error: str | None
    claimed_until: datetime | None
    size: int
    dsn_ret: str | None = None
    """RET of the original MAIL (`FULL`, `HDRS`), None when not given (RFC 3461 4.3)."""
    dsn_envid: str | None = None
    """ENVID as the client wrote it (xtext)."""
    dsn_recipients: str | None = None
    """NOTIFY/ORCPT per recipient (`message.dsn_params.encode_recipients`)."""
    delay_reported: tuple[str, ...] = ()
    """The recipients already sent their one delay report."""


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    from datetime import UTC
    return value.replace(tzinfo=UTC)


_COLUMNS = (OutboundMessage.id, OutboundMessage.content_id, MessageContent.bal_id,
            OutboundMessage.domain, OutboundMessage.mail_from, OutboundMessage.recipients,
            OutboundMessage.created_at, OutboundMessage.next_attempt_at,
            OutboundMessage.attempts, OutboundMessage.last_error,
            OutboundMessage.claimed_until, MessageContent.size, OutboundMessage.dsn_ret,
            OutboundMessage.dsn_envid, OutboundMessage.dsn_recipients,
            OutboundMessage.dsn_delayed)


def _row(r: Sequence[object]) -> QueuedMessage:
    rcpts = str(r[5])
    return QueuedMessage(
        id=int(r[0]), content_id=str(r[1]), bal_id=int(r[2]), domain=str(r[3]),  # type: ignore[call-overload]
        mail_from=str(r[4]), recipients=tuple(x for x in rcpts.split("\n") if x),
        created_at=_aware(r[6]), next_attempt_at=_aware(r[7]),  # type: ignore[arg-type]
        attempts=int(r[8]), last_error=r[9], claimed_until=_aware(r[10]),  # type: ignore[arg-type,call-overload]
        size=int(r[11]), dsn_ret=r[12], dsn_envid=r[13], dsn_recipients=r[14],  # type: ignore[call-overload,arg-type]
        delay_reported=tuple(x for x in str(r[15] or "").split("\n") if x))


def _unclaimed(now: datetime):  # type: ignore[no-untyped-def]
    return or_(OutboundMessage.claimed_until.is_(None), OutboundMessage.claimed_until <= now)


class OutboundQueue:
    """The outbound queue over one database."""

    def __init__(self, db: Database, keys: DataKeys) -> None:
        self.db = db
        self.keys = keys

    async def _claim(self, s: AsyncSession, where: object, now: datetime, limit: int,
                     lease: float) -> list[QueuedMessage]:
        ids = list((await s.execute(
            select(OutboundMessage.id).where(where, _unclaimed(now))  # type: ignore[arg-type]
            .order_by(OutboundMessage.next_attempt_at, OutboundMessage.id).limit(limit)
            .with_for_update(skip_locked=True))).scalars())
        if not ids:
            return []
        until = now + timedelta(seconds=lease)
        await s.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids))
                        .values(claimed_until=until, attempts=OutboundMessage.attempts + 1))
        rows = (await s.execute(select(*_COLUMNS).join(
            MessageContent, MessageContent.id == OutboundMessage.content_id)
            .where(OutboundMessage.id.in_(ids)).order_by(OutboundMessage.id))).all()
        return [_row(r) for r in rows]

    async def claim(self, now: datetime, limit: int, lease: float,
                    lifetime: float | None = None) -> list[QueuedMessage]:
        """Up to `limit` due rows (or, with `lifetime`, rows older than that many
        seconds, due or not), claimed for `lease` seconds (attempts counted)."""
        due = OutboundMessage.next_attempt_at <= now
        if lifetime is not None:
            due = or_(due, OutboundMessage.created_at <= now - timedelta(seconds=lifetime))
        if not await self._any(due, now):
            return []  # an idle queue is polled by a read: no write lock taken
        async with self.db.write() as s:
            return await self._claim(s, due, now, limit, lease)

    async def _any(self, where: object, now: datetime) -> bool:
        """Whether an unclaimed row matches `where` (read only)."""
        async with self.db.read() as s:
            return (await s.execute(select(OutboundMessage.id).where(
                where, _unclaimed(now)).limit(1))).first() is not None  # type: ignore[arg-type]

    async def claim_expired(self, now: datetime, lifetime: float, limit: int,
                            lease: float) -> list[QueuedMessage]:
        """Up to `limit` rows older than `lifetime` seconds, claimed to be given up."""
        expired = OutboundMessage.created_at <= now - timedelta(seconds=lifetime)
        if not await self._any(expired, now):
            return []
        async with self.db.write() as s:
            return await self._claim(s, expired, now, limit, lease)

    async def message(self, item: QueuedMessage) -> bytes:
        """The row's message, decrypted with the sending BAL's key."""
        async with self.db.read() as s:
            row = (await s.execute(select(MessageContent.key_version, MessageContent.body)
                                   .where(MessageContent.id == item.content_id))).one()
            key = await self.keys.get(s, item.bal_id, row[0])
        return await by_size(len(row[1]), key.open, item.content_id, row[1])

    async def settle(self, item: QueuedMessage, remaining: Sequence[str],
                     next_attempt_at: datetime, error: str | None,
                     audit: Sequence[AuditEvent],
                     delay_reported: Sequence[str] = ()) -> bool:
        """Record an attempt: `remaining` recipients wait until `next_attempt_at`
        (none left: the row and its content go); `delay_reported` recipients are added
        to those sent their delay report; False when the claim had lapsed."""
        async with self.db.write() as s:
            mine = and_(OutboundMessage.id == item.id,
                        OutboundMessage.claimed_until == item.claimed_until)
            if not (await s.execute(select(func.count()).select_from(OutboundMessage)
                                    .where(mine))).scalar_one():
                return False
            if remaining:
                told = dict.fromkeys((*item.delay_reported, *delay_reported))
                await s.execute(update(OutboundMessage).where(mine).values(
                    recipients="\n".join(remaining), next_attempt_at=next_attempt_at,
                    last_error=error, claimed_until=None,
                    dsn_delayed="\n".join(told) or None))
            else:
                await s.execute(delete(MessageContent).where(
                    MessageContent.id == item.content_id))
                await s.execute(delete(OutboundMessage).where(mine))
            add_audit(s, audit)
        return True

    async def release(self, item: QueuedMessage) -> None:
        """Give a claimed row back untouched (the process is stopping)."""
        async with self.db.write() as s:
            await s.execute(update(OutboundMessage).where(
                OutboundMessage.id == item.id,
                OutboundMessage.claimed_until == item.claimed_until).values(claimed_until=None))

    async def listing(self) -> list[QueuedMessage]:
        async with self.db.read() as s:
            rows = (await s.execute(select(*_COLUMNS).join(
                MessageContent, MessageContent.id == OutboundMessage.content_id)
                .order_by(OutboundMessage.id))).all()
        return [_row(r) for r in rows]

    async def get(self, queue_id: int) -> QueuedMessage | None:
        async with self.db.read() as s:
            row = (await s.execute(select(*_COLUMNS).join(
                MessageContent, MessageContent.id == OutboundMessage.content_id)
                .where(OutboundMessage.id == queue_id))).first()
        return _row(row) if row is not None else None

    async def retry_now(self, queue_id: int | None, now: datetime) -> int:
        """Make waiting rows (one, or all) due now; rows being sent are left alone."""
        async with self.db.write() as s:
            where = [_unclaimed(now)]
            if queue_id is not None:
                where.append(OutboundMessage.id == queue_id)
            result = await s.execute(update(OutboundMessage).where(*where)
                                     .values(next_attempt_at=now))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def remove(self, queue_id: int, now: datetime,
                     audit: Sequence[AuditEvent]) -> bool | None:
        """Delete one waiting row and its content: True; None when absent; False when
        a relay is sending it at this moment."""
        async with self.db.write() as s:
            row = (await s.execute(select(OutboundMessage.content_id,
                                          OutboundMessage.claimed_until)
                                   .where(OutboundMessage.id == queue_id))).first()
            if row is None:
                return None
            claimed = _aware(row[1])
            if claimed is not None and claimed > now:
                return False
            await s.execute(delete(MessageContent).where(MessageContent.id == row[0]))
            await s.execute(delete(OutboundMessage).where(OutboundMessage.id == queue_id))
            add_audit(s, audit)
        return True
