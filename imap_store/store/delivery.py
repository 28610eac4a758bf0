"""Delivery into the store: plan, seal off the loop, commit in one transaction.

The gateway's intake builds a `DeliveryPlan` (who gets which bytes, and the
audit events that record the delivery), then `DeliveryStore.commit` takes the
data keys (from `DataKeys`' bounded cache, or read), computes the meta and
seals every copy (in a worker thread for a large message, `offload.by_size`),
and only then hands ONE unit of work to the database's group-commit writer
(`group_commit.GroupWriter`): it inserts all of them, local INBOX entries and
outbound queue rows alike, the sender's daily recipient count and the
delivery's audit rows, as plain statements with plain values. Deliveries
that arrive together share the writer's transaction and its one commit;
either everything of a delivery is durably committed, or nothing is.
`lookup` answers RCPT from a 1 s cache of active BALs (`recipient_cache`),
with each BAL's quota usage and limits read in the same statement (R25); a
commit adds what it stored to the cached usage of its recipients, so RCPTs
in this process see it at once, and other processes' writes within 1 s.

Invariants:
- A local copy lands in the recipient's INBOX with the rows and the UID
  allocator IMAP APPEND uses (`message_ops`' `allocate_tx`, `content_values`,
  `entry_values`): each copy gets the next UID of its folder from the one
  UPDATE that locks the INBOX row and moves its counters; with several BALs,
  their INBOX rows are locked in folder id order first. Its meta (header,
  ENVELOPE, BODYSTRUCTURE: `message_meta`) is sealed beside it (AAD content
  id + ":meta").
- Every table is written with one statement per delivery (all contents,
  local and queued, in one; all entries in one; all queue rows in one), plus
  the UPDATE of each INBOX: each statement is one round trip on PostgreSQL.
- A remote copy is encrypted with the sending BAL's key, one queue row per
  remote domain, with the DSN parameters to pass on (RET, ENVID, and
  NOTIFY/ORCPT of its recipients; RFC 3461).
- Nothing CPU-bound (MIME parsing, AES-GCM) runs on the event loop or while
  the write transaction (on SQLite, the process's write lock) is held; the
  key version read before the transaction is the one recorded with each
  content (see `message_ops` on a rotation made meanwhile).
- The plan's audit events are written as rows of the same transaction, from
  the UIDs and queue ids it allocated: a delivery without its audit rows, or
  audit rows without their delivery, is never committed.
- Nothing is written before `commit`; an exception inside rolls back all of
  the delivery (in a shared transaction, the others are run again without
  it: `group_commit`), and `commit` returns only once the transaction
  holding the delivery has committed.

Ref: docs/architecture.md "Conventions" 8 (narrow two-phase store API);
RFC 5321 6.1 (reliable delivery); R24.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import func, select

from .audit_rows import AUDIT_INSERT, audit_values
from .content_write import STREAM_ABOVE, insert_contents
from .crypto import DataKey
from .db import Database
from .group_commit import WriteTx, insert_together
from .interfaces import AuditEvent
from .keys import DataKeys
from .message_ops import (
    CONTENT_INSERT,
    ENTRY_INSERT,
    FolderState,
    NewMessage,
    SealedMessage,
    ToSeal,
    allocate_tx,
    content_values,
    entry_values,
    lock_inboxes_tx,
    seal_off_loop,
    state_marker,
)
from .models import SentRecipient
from .notify import ChangeNotifier
from .quota import NO_QUOTA, QuotaDefaults, QuotaState, state_of
from .read_pool import fetch_in
from .recipient_cache import RecipientCache


@dataclass(frozen=True)
class RecipientState:
    """What the store knows of a local address: its BAL id, status and quota usage."""

    bal_id: int
    address: str
    status: str
    quota: QuotaState = QuotaState()
    """Usage and limits read with the status (R25: the RCPT quota check)."""


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
    count_recipients: bool = True
    """Record the sender's distinct recipients of the day (R18's budget reads them)."""


_LOOKUP = (  # R25: the BAL's usage comes in the same statement (sum of its folders' counters)
    "SELECT b.id, b.address, b.status, b.quota_bytes, b.quota_messages, "
    "(SELECT COALESCE(SUM(f.used_bytes), 0) FROM folder f WHERE f.bal_id = b.id), "
    "(SELECT COALESCE(SUM(f.used_messages), 0) FROM folder f WHERE f.bal_id = b.id) "
    "FROM bal b WHERE b.address IN ({ids})")


class DeliveryStore:
    """Looks up local recipients and commits delivery plans."""

    def __init__(self, db: Database, keys: DataKeys, notifier: ChangeNotifier,
                 quota: QuotaDefaults = NO_QUOTA) -> None:
        self.db = db
        self.quota = quota
        self.keys = keys
        self.notifier = notifier
        self.recipients: RecipientCache[RecipientState] = RecipientCache()

    async def lookup(self, address: str, *, fresh: bool = False) -> RecipientState | None:
        """The local BAL of `address` (None: unknown); an active BAL's answer is reused for
        up to `recipients.ttl` (1 s), see `recipient_cache`: a suspension or deletion
        made elsewhere is seen within that time, a creation or resumption at once.
        `fresh`: read the database whatever the cache holds (and keep the answer)."""
        address = address.strip().lower()
        found = None if fresh else self.recipients.get(address)
        if found is not None:
            return found
        rows = await self.db.reader.run(partial(fetch_in, _LOOKUP, [address]), single=True)
        if not rows:
            return None
        row = rows[0]
        found = RecipientState(int(row[0]), row[1], row[2], state_of(self.quota, *row[3:]))
        if found.status == "active":
            self.recipients.put(address, found)
        return found

    async def commit(self, plan: DeliveryPlan, now: datetime | None = None) -> DeliveryResult:
        now = now or datetime.now(UTC)
        sealed = await seal_off_loop(self._to_seal(plan, await self._keys(plan)))
        local, remote = sealed[:len(plan.local)], sealed[len(plan.local):]
        result, inboxes = await self.db.writer.run(
            partial(self._write, plan, local, remote, now))
        for bal_id, inbox in inboxes.items():
            self.notifier.committed(bal_id, [state_marker(inbox)])
        self._count_usage(plan)
        return result

    def _count_usage(self, plan: DeliveryPlan) -> None:
        """Add what this delivery stored to the cached usage of its recipients, so the next
        RCPT in this process sees it without a read (R25; the cache keeps its expiry)."""
        added: dict[int, int] = {}
        for copy in plan.local:
            added[copy.bal_id] = added.get(copy.bal_id, 0) + len(copy.message)
        for address in plan.recipients:
            found = self.recipients.get(address.lower())
            if found is not None and found.bal_id in added:
                q = found.quota
                self.recipients.update(address.lower(), replace(found, quota=replace(
                    q, used_bytes=q.used_bytes + added.pop(found.bal_id),
                    used_messages=q.used_messages + 1)))

    @classmethod
    async def _write(cls, plan: DeliveryPlan, local: Sequence[SealedMessage],
                     remote: Sequence[SealedMessage], now: datetime,
                     tx: WriteTx) -> tuple[DeliveryResult, dict[int, FolderState]]:
        """The delivery's unit of work: every row it writes, in the writer's transaction.
        One statement per table it writes, plus one per local copy for its UID
        (`allocate_tx`); the contents (unless they must exist before queue rows or go by
        COPY), entries and audit rows are one statement on PostgreSQL (`insert_together`)."""
        uids, inboxes, entries = await cls._allocate_local(tx, plan, local, now)
        contents = [content_values(one, now, plan.mss_nil) for one in (*local, *remote)]
        if remote or any(one.size > STREAM_ABOVE for one in local):
            await insert_contents(tx, CONTENT_INSERT, contents)
            contents = []
        result = DeliveryResult(uids, await cls._queue_remote(tx, plan, remote, now))
        events = plan.audit(result) if plan.audit is not None else ()
        await insert_together(tx, [(CONTENT_INSERT, contents), (ENTRY_INSERT, entries),
                                   (AUDIT_INSERT, [audit_values(e) for e in events])])
        await cls._count_recipients(tx, plan, now)
        return result, inboxes

    async def recipients_today(self, bal_id: int, now: datetime | None = None) -> int:
        """Distinct recipients `bal_id` sent to on the current UTC day (R18)."""
        day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
        async with self.db.read() as s:
            return int((await s.execute(select(func.count()).select_from(SentRecipient).where(
                SentRecipient.bal_id == bal_id, SentRecipient.day == day))).scalar_one())

    @staticmethod
    async def _count_recipients(tx: WriteTx, plan: DeliveryPlan, now: datetime) -> None:
        if plan.owner_bal_id is None or not plan.recipients or not plan.count_recipients:
            return
        day = now.strftime("%Y-%m-%d")
        digests = sorted({hashlib.sha256(r.lower().encode()).hexdigest()
                          for r in plan.recipients})
        await tx.executemany(
            "INSERT INTO sent_recipient (bal_id, day, rcpt_hash) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING", [(plan.owner_bal_id, day, d) for d in digests])

    async def _keys(self, plan: DeliveryPlan) -> dict[int, DataKey]:
        """The current data key of every BAL the plan writes for (read before sealing;
        from `DataKeys`' bounded cache when it holds it)."""
        bal_ids = {c.bal_id for c in plan.local}
        if plan.remote and plan.owner_bal_id is not None:
            bal_ids.add(plan.owner_bal_id)
        found = {b: k for b in bal_ids if (k := self.keys.cached_current(b)) is not None}
        missing = sorted(bal_ids - set(found))
        if missing:
            async with self.db.read() as s:
                found.update({b: await self.keys.current(s, b) for b in missing})
        return found

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
    async def _allocate_local(
        tx: WriteTx, plan: DeliveryPlan, sealed: Sequence[SealedMessage], now: datetime,
    ) -> tuple[tuple[tuple[int, int], ...], dict[int, FolderState], list[tuple[object, ...]]]:
        """The UID of each local copy in its BAL's INBOX (the INBOX rows locked in folder
        id order first when there are several): the (BAL id, UID) pairs, the INBOX rows
        as they now are, and the copies' `mailbox_entry` rows."""
        if not plan.local:
            return (), {}, []
        bal_ids = {c.bal_id for c in plan.local}
        if len(bal_ids) > 1:
            await lock_inboxes_tx(tx, bal_ids)
        uids, inboxes, entries = [], {}, []
        for copy, one in zip(plan.local, sealed, strict=True):
            if one.bal_id != copy.bal_id:
                raise ValueError("a message sealed for another BAL cannot enter this folder")
            inbox, allocated = await allocate_tx(tx, copy.bal_id, None, 1, one.size)
            entries += entry_values(inbox, allocated,
                                    [(one, NewMessage(copy.message, internaldate=now))], now)
            uids.append((copy.bal_id, allocated[0]))
            inboxes[copy.bal_id] = inbox
        return tuple(uids), inboxes, entries

    @staticmethod
    async def _queue_remote(tx: WriteTx, plan: DeliveryPlan,
                            sealed: Sequence[SealedMessage], now: datetime) -> tuple[int, ...]:
        """One queue row per remote domain (their contents already inserted), in ONE
        statement; their ids in plan order."""
        if not plan.remote:
            return ()
        values, args = [], []
        for n, (copy, one) in enumerate(zip(plan.remote, sealed, strict=True)):
            values.append("(" + ", ".join(f"${9 * n + k}" for k in range(1, 10)) + ", 0)")
            args += [one.content_id, copy.domain, plan.mail_from, "\n".join(copy.recipients),
                     now, now, plan.dsn_ret, plan.dsn_envid, copy.dsn_recipients]
        rows = await tx.fetch(
            "INSERT INTO outbound_queue (content_id, domain, mail_from, recipients, "  # noqa: S608
            "created_at, next_attempt_at, dsn_ret, dsn_envid, dsn_recipients, attempts) "
            f"VALUES {', '.join(values)} RETURNING id, content_id", *args)
        ids = {r[1]: int(r[0]) for r in rows}
        return tuple(ids[one.content_id] for one in sealed)
