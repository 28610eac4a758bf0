"""Two-phase delivery into the store: plan, encrypt, commit in one transaction.

The gateway's intake builds a `DeliveryPlan` (who gets which bytes), then
`DeliveryStore.commit` encrypts every copy with its BAL's data key and writes
all of them, local INBOX entries and outbound queue rows alike, in ONE
transaction. Either everything is durably committed, or nothing is.

Invariants:
- A local copy lands in the recipient's INBOX with the next UID of that folder,
  with its meta (header, ENVELOPE, BODYSTRUCTURE: `message_meta`) computed
  before the transaction and sealed beside it (AAD content id + ":meta").
- A remote copy is encrypted with the sending BAL's key, one queue row per
  remote domain.
- Nothing is written before `commit`; an exception inside rolls back all.

Ref: docs/architecture.md "Conventions" 8 (narrow two-phase store API);
RFC 5321 6.1 (reliable delivery).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from message.meta import compute_meta
from message.meta_codec import encode_meta

from .db import Database
from .keys import DataKeys
from .message_ops import META_SUFFIX
from .models import Bal, Folder, MailboxEntry, MessageContent, OutboundMessage, SentRecipient
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


@dataclass(frozen=True)
class DeliveryPlan:
    mail_from: str
    owner_bal_id: int | None
    local: tuple[LocalCopy, ...] = ()
    remote: tuple[RemoteCopy, ...] = ()
    mss_nil: str | None = None
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryResult:
    local_uids: tuple[tuple[int, int], ...]
    queue_ids: tuple[int, ...]


def new_content_id() -> str:
    return secrets.token_hex(16)


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
        metas = {id(c.message): encode_meta(compute_meta(c.message)) for c in plan.local}
        async with self.db.write() as s:
            uids = [await self._store_local(s, c, plan, now, metas[id(c.message)])
                    for c in plan.local]
            queue = [await self._queue_remote(s, c, plan, now) for c in plan.remote]
            await self._count_recipients(s, plan, now)
        for bal_id in {c.bal_id for c in plan.local}:
            self.notifier.bump(bal_id)
        return DeliveryResult(tuple(uids), tuple(queue))

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

    async def _content(self, s: AsyncSession, bal_id: int, message: bytes,
                       plan: DeliveryPlan, now: datetime, meta: bytes | None = None) -> str:
        key = await self.keys.current(s, bal_id)
        cid = new_content_id()
        sealed_meta = key.seal(cid + META_SUFFIX, meta) if meta is not None else None
        s.add(MessageContent(id=cid, bal_id=bal_id, key_version=key.version,
                             size=len(message), body=key.seal(cid, message),
                             mss_nil=plan.mss_nil, received_at=now, meta=sealed_meta))
        await s.flush()
        return cid

    async def _store_local(self, s: AsyncSession, copy: LocalCopy, plan: DeliveryPlan,
                           now: datetime, meta: bytes) -> tuple[int, int]:
        cid = await self._content(s, copy.bal_id, copy.message, plan, now, meta)
        folder = (await s.execute(
            update(Folder).where(Folder.bal_id == copy.bal_id, Folder.name == "INBOX")
            .values(uidnext=Folder.uidnext + 1, highestmodseq=Folder.highestmodseq + 1)
            .returning(Folder.id, Folder.uidnext, Folder.highestmodseq))).one()
        uid = folder[1] - 1
        s.add(MailboxEntry(folder_id=folder[0], uid=uid, content_id=cid, flags="",
                           internaldate=now, modseq=folder[2]))
        await s.flush()
        return copy.bal_id, uid

    async def _queue_remote(self, s: AsyncSession, copy: RemoteCopy, plan: DeliveryPlan,
                            now: datetime) -> int:
        if plan.owner_bal_id is None:
            raise ValueError("a remote copy needs the sending BAL to encrypt it")
        cid = await self._content(s, plan.owner_bal_id, copy.message, plan, now)
        row = OutboundMessage(content_id=cid, domain=copy.domain, mail_from=plan.mail_from,
                              recipients="\n".join(copy.recipients), created_at=now,
                              next_attempt_at=now, attempts=0)
        s.add(row)
        await s.flush()
        return row.id
