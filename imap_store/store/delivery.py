"""Delivery into the store: plan, seal off the loop, commit in one transaction.

The gateway's intake builds a `DeliveryPlan` (who gets which bytes, and the
audit events that record the delivery), then `DeliveryStore.commit` reads the
data keys, computes the meta and seals every copy (in a worker thread for a
large message, `offload.by_size`), and only then opens ONE write transaction
that inserts all of them, local INBOX entries and outbound queue rows alike,
the sender's daily recipient count and the delivery's audit rows. Either
everything is durably committed, or nothing is.

Invariants:
- A local copy lands in the recipient's INBOX through `message_ops`'
  `insert_sealed`, the insert IMAP APPEND uses too: the INBOX rows are locked
  in folder id order, each copy gets the next UID of its folder, with its meta
  (header, ENVELOPE, BODYSTRUCTURE: `message_meta`) sealed beside it (AAD
  content id + ":meta").
- A remote copy is encrypted with the sending BAL's key, one queue row per
  remote domain, with the DSN parameters to pass on (RET, ENVID, and
  NOTIFY/ORCPT of its recipients; RFC 3461).
- Nothing CPU-bound (MIME parsing, AES-GCM) runs on the event loop or while
  the write transaction (on SQLite, the process's write lock) is held; the
  key version read before the transaction is the one recorded with each
  content (see `message_ops`: no key rotation in this version).
- The plan's audit events are written as rows of the same transaction, from
  the UIDs and queue ids it allocated: a delivery without its audit rows, or
  audit rows without their delivery, is never committed.
- Nothing is written before `commit`; an exception inside rolls back all.

Ref: docs/architecture.md "Conventions" 8 (narrow two-phase store API);
RFC 5321 6.1 (reliable delivery); R24.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .audit_rows import add_audit
from .content_write import add_contents
from .crypto import DataKey
from .db import Database
from .interfaces import AuditEvent
from .keys import DataKeys
from .message_ops import (
    NewMessage,
    SealedMessage,
    ToSeal,
    content_row,
    folder_marker,
    insert_sealed,
    locked_inboxes,
    seal_off_loop,
)
from .models import Bal, OutboundMessage, SentRecipient
from .models import Folder as FolderRow
from .notify import ChangeNotifier


@dataclass(frozen=True)
class RecipientState:
    """What the store knows of a local address: its BAL id and status."""

    bal_id: int
    address: str
    status: str


@dataclass(frozen=True)
class LocalCopy:
    bal_id: int
    message: bytes


@dataclass(frozen=True)
class RemoteCopy:
    domain: str
    recipients: tuple[str, ...]
    message: bytes
    dsn_recipients: str | None = None
    """NOTIFY/ORCPT of these recipients (`message.dsn_params.encode_recipients`)."""


@dataclass(frozen=True)
class DeliveryResult:
    local_uids: tuple[tuple[int, int], ...]
    queue_ids: tuple[int, ...]


@dataclass(frozen=True)
class DeliveryPlan:
    """What one delivery writes. `audit` builds, from the UIDs and queue ids the
    commit allocates, the events recorded in the delivery's own transaction."""

    mail_from: str
    owner_bal_id: int | None
    local: tuple[LocalCopy, ...] = ()
    remote: tuple[RemoteCopy, ...] = ()
    mss_nil: str | None = None
    recipients: tuple[str, ...] = ()
    dsn_ret: str | None = None
    dsn_envid: str | None = None
    audit: Callable[[DeliveryResult], Sequence[AuditEvent]] | None = None


class DeliveryStore:
    """Looks up local recipients and commits delivery plans."""

    def __init__(self, db: Database, keys: DataKeys, notifier: ChangeNotifier) -> None:
        self.db = db
        self.keys = keys
        self.notifier = notifier

    async def lookup(self, address: str) -> RecipientState | None:
        async with self.db.read() as s:
            row = (await s.execute(select(Bal.id, Bal.address, Bal.status).where(
                Bal.address == address.strip().lower()))).first()
        return RecipientState(row[0], row[1], row[2]) if row else None

    async def commit(self, plan: DeliveryPlan, now: datetime | None = None) -> DeliveryResult:
        now = now or datetime.now(UTC)
        sealed = await seal_off_loop(self._to_seal(plan, await self._keys(plan)))
        local, remote = sealed[:len(plan.local)], sealed[len(plan.local):]
        async with self.db.write() as s:
            uids, inboxes = await self._store_local(s, plan, local, now)
            result = DeliveryResult(uids, await self._queue_remote(s, plan, remote, now))
            await self._count_recipients(s, plan, now)
            if plan.audit is not None:
                add_audit(s, plan.audit(result))
        for bal_id, inbox in inboxes.items():
            self.notifier.committed(bal_id, [folder_marker(inbox)])
        return result

    async def recipients_today(self, bal_id: int, now: datetime | None = None) -> int:
        """Distinct recipients `bal_id` sent to on the current UTC day (R18)."""
        day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
        async with self.db.read() as s:
            return int((await s.execute(select(func.count()).select_from(SentRecipient).where(
                SentRecipient.bal_id == bal_id, SentRecipient.day == day))).scalar_one())

    async def _count_recipients(self, s: AsyncSession, plan: DeliveryPlan,
                                now: datetime) -> None:
        if plan.owner_bal_id is None or not plan.recipients:
            return
        day = now.strftime("%Y-%m-%d")
        known = set((await s.execute(select(SentRecipient.rcpt_hash).where(
            SentRecipient.bal_id == plan.owner_bal_id, SentRecipient.day == day))).scalars())
        for rcpt in {r.lower() for r in plan.recipients}:
            digest = hashlib.sha256(rcpt.encode()).hexdigest()
            if digest not in known:
                s.add(SentRecipient(bal_id=plan.owner_bal_id, day=day, rcpt_hash=digest))

    async def _keys(self, plan: DeliveryPlan) -> dict[int, DataKey]:
        """The current data key of every BAL the plan writes for (read before sealing)."""
        bal_ids = {c.bal_id for c in plan.local}
        if plan.remote and plan.owner_bal_id is not None:
            bal_ids.add(plan.owner_bal_id)
        async with self.db.read() as s:
            return {b: await self.keys.current(s, b) for b in sorted(bal_ids)}

    @staticmethod
    def _to_seal(plan: DeliveryPlan, keys: dict[int, DataKey]) -> list[ToSeal]:
        """Local copies (with meta) first, then remote ones, in plan order."""
        local = [ToSeal(keys[c.bal_id], c.message) for c in plan.local]
        if not plan.remote:
            return local
        if plan.owner_bal_id is None:
            raise ValueError("a remote copy needs the sending BAL to encrypt it")
        owner = keys[plan.owner_bal_id]
        return local + [ToSeal(owner, c.message, with_meta=False) for c in plan.remote]

    @staticmethod
    async def _store_local(
        s: AsyncSession, plan: DeliveryPlan, sealed: Sequence[SealedMessage], now: datetime,
    ) -> tuple[tuple[tuple[int, int], ...], dict[int, FolderRow]]:
        """Insert the local copies; their (BAL id, UID) pairs and the INBOX rows written."""
        if not plan.local:
            return (), {}
        inboxes = await locked_inboxes(s, [c.bal_id for c in plan.local])
        uids = []
        for copy, one in zip(plan.local, sealed, strict=True):
            added = await insert_sealed(s, inboxes[copy.bal_id],
                                        [(one, NewMessage(copy.message, internaldate=now))],
                                        now, plan.mss_nil)
            uids.append((copy.bal_id, added.uids[0]))
        return tuple(uids), inboxes

    @staticmethod
    async def _queue_remote(s: AsyncSession, plan: DeliveryPlan,
                            sealed: Sequence[SealedMessage], now: datetime) -> tuple[int, ...]:
        if not plan.remote:
            return ()
        await add_contents(s, [content_row(one, now, plan.mss_nil) for one in sealed])
        rows = [OutboundMessage(content_id=one.content_id, domain=copy.domain,
                                mail_from=plan.mail_from, recipients="\n".join(copy.recipients),
                                created_at=now, next_attempt_at=now, attempts=0,
                                dsn_ret=plan.dsn_ret, dsn_envid=plan.dsn_envid,
                                dsn_recipients=copy.dsn_recipients)
                for copy, one in zip(plan.remote, sealed, strict=True)]
        s.add_all(rows)
        await s.flush()
        return tuple(row.id for row in rows)
