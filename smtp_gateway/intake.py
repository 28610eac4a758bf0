"""Intake: the one choke point for accepted mail.

SMTP DATA and every other source of messages hand them here; nothing else
writes a message into an INBOX or the outbound queue. Intake adds the trace
headers, splits recipients into local copies and one outbound copy per remote
domain, commits them all in one store transaction and audits the delivery
(envelope only, never content).

Invariants:
- The message bytes are kept exactly as received; only `Return-Path:` and
  `Received:` are prepended (RFC 5321 4.4).
- `accept` returns only after the store commit is durable; on any exception
  nothing has been stored.

Ref: docs/architecture.md "Conventions" 7; RFC 5321 4.4 (trace information), 6.1; R19, R24.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from imap_store.store.delivery import (
    DeliveryPlan,
    DeliveryResult,
    DeliveryStore,
    LocalCopy,
    RemoteCopy,
)
from imap_store.store.interfaces import AuditEvent, AuditSink
from message.facts import MessageFacts


@dataclass(frozen=True)
class TraceInfo:
    """What the Received: header says about the session (no content)."""

    helo: str
    peer_ip: str
    protocol: str
    session: str
    tls: str = ""


@dataclass(frozen=True)
class LocalRecipient:
    address: str
    bal_id: int


@dataclass(frozen=True)
class AcceptedMail:
    """An accepted SMTP transaction, ready to be committed."""

    mail_from: str
    owner_bal_id: int | None
    local: tuple[LocalRecipient, ...]
    remote: tuple[str, ...]
    content: bytes
    facts: MessageFacts
    trace: TraceInfo
    principal: str = ""
    person: str = ""


def _safe_helo(helo: str) -> str:
    """The client's EHLO name, limited to what may appear in a Received: field."""
    cleaned = "".join(c for c in helo if c.isascii() and c.isprintable() and c not in "()\\;")
    return cleaned[:255] or "unknown"


def _received(hostname: str, t: TraceInfo, now: datetime) -> bytes:
    tls = f" ({t.tls})" if t.tls else ""
    return (f"Received: from {_safe_helo(t.helo)} ([{t.peer_ip}])\r\n\tby {hostname} (mss-server) "
            f"with {t.protocol} id {t.session}{tls};\r\n\t{format_datetime(now)}\r\n").encode()


def _group_remote(recipients: Sequence[str]) -> dict[str, tuple[str, ...]]:
    by_domain: defaultdict[str, list[str]] = defaultdict(list)
    for rcpt in recipients:
        by_domain[rcpt.rsplit("@", 1)[1].lower()].append(rcpt)
    return {d: tuple(r) for d, r in by_domain.items()}


class Intake:
    """Commits accepted mail to local INBOXes and the outbound queue."""

    def __init__(self, store: DeliveryStore, audit: AuditSink, hostname: str) -> None:
        self.store = store
        self.audit = audit
        self.hostname = hostname

    async def accept(self, mail: AcceptedMail, now: datetime | None = None) -> DeliveryResult:
        now = now or datetime.now(UTC)
        header = (f"Return-Path: <{mail.mail_from}>\r\n".encode()
                  + _received(self.hostname, mail.trace, now))
        message = header + mail.content
        plan = DeliveryPlan(
            mail_from=mail.mail_from, owner_bal_id=mail.owner_bal_id,
            local=tuple(LocalCopy(r.bal_id, message) for r in mail.local),
            remote=tuple(RemoteCopy(d, rs, message)
                         for d, rs in _group_remote(mail.remote).items()),
            mss_nil=mail.facts.mss_nil,
            recipients=tuple(r.address for r in mail.local) + mail.remote)
        result = await self.store.commit(plan, now)
        await self._audit(mail, result, len(message))
        return result

    async def _audit(self, mail: AcceptedMail, result: DeliveryResult, size: int) -> None:
        for rcpt, (_bal, uid) in zip(mail.local, result.local_uids, strict=True):
            await self.audit.record(AuditEvent(
                "delivery.local", protocol="smtp", session=mail.trace.session,
                peer=mail.trace.peer_ip, bal=rcpt.address, person=mail.person,
                detail={"from": mail.mail_from, "uid": uid, "size": size,
                        "message_id": mail.facts.message_id, "x_mss_nil": mail.facts.mss_nil}))
        for domain, qid in zip(_group_remote(mail.remote), result.queue_ids, strict=True):
            await self.audit.record(AuditEvent(
                "delivery.queued", protocol="smtp", session=mail.trace.session,
                peer=mail.trace.peer_ip, bal=mail.principal, person=mail.person,
                detail={"from": mail.mail_from, "domain": domain, "queue_id": qid,
                        "size": size, "message_id": mail.facts.message_id}))
