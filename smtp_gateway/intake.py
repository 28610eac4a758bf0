"""Intake: the one choke point for accepted mail.

SMTP DATA and every other source of messages hand them here; nothing else
writes a message into an INBOX or the outbound queue. Intake adds the trace
headers, splits recipients into local copies and one outbound copy per remote
domain, and commits them all in one store transaction together with the
delivery's audit records (`delivery.local` per local copy, `delivery.queued`
per remote domain; envelope only, never content).

Invariants:
- The message bytes are kept exactly as received; only `Return-Path:` and
  `Received:` are prepended (RFC 5321 4.4); for a large message the copy is
  made in a worker thread (`offload.by_size`), never on the event loop.
- `accept` returns only after the store commit is durable; on any exception
  nothing has been stored, and no audit record of the delivery exists.
- A delivery plan never holds a mailbox twice: local recipients are made
  distinct by BAL id, remote ones by `normalise_address` (the first spelling
  is kept), whatever the caller passed (RFC 5321 3.3: one copy per mailbox).
- The delivery and its audit records commit or fail together: an audit write
  that fails fails the delivery (the client gets a temporary error and
  nothing is stored), and no record of the delivery is written after its
  commit.

Ref: docs/architecture.md "Conventions" 7; RFC 5321 3.3, 4.4 (trace information), 6.1;
R18, R19, R24.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from typing import TypeVar

from imap_store.store.delivery import (
    DeliveryPlan,
    DeliveryResult,
    DeliveryStore,
    LocalCopy,
    RemoteCopy,
)
from imap_store.store.interfaces import AuditEvent
from imap_store.store.offload import by_size
from message.facts import MessageFacts
from policy.address import domain_of, normalise_address

T = TypeVar("T")


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


def _first_of_each(items: Iterable[T], key: Callable[[T], Hashable]) -> tuple[T, ...]:
    seen: set[Hashable] = set()
    kept: list[T] = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return tuple(kept)


def distinct_recipients(mail: AcceptedMail) -> AcceptedMail:
    """`mail` with each local BAL and each remote address once, in first-seen order."""
    return replace(mail, local=_first_of_each(mail.local, lambda r: r.bal_id),
                   remote=_first_of_each(mail.remote, normalise_address))


def _group_remote(recipients: Sequence[str]) -> dict[str, tuple[str, ...]]:
    by_domain: defaultdict[str, list[str]] = defaultdict(list)
    for rcpt in recipients:
        by_domain[domain_of(rcpt)].append(rcpt)
    return {d: tuple(r) for d, r in by_domain.items()}


def _audit_events(mail: AcceptedMail, domains: Sequence[str], size: int,
                  result: DeliveryResult) -> list[AuditEvent]:
    """The delivery's audit records, from the UIDs and queue ids its commit allocated."""
    local = [AuditEvent(
        "delivery.local", protocol="smtp", session=mail.trace.session,
        peer=mail.trace.peer_ip, bal=rcpt.address, person=mail.person,
        detail={"from": mail.mail_from, "uid": uid, "size": size,
                "message_id": mail.facts.message_id, "x_mss_nil": mail.facts.mss_nil})
        for rcpt, (_bal, uid) in zip(mail.local, result.local_uids, strict=True)]
    queued = [AuditEvent(
        "delivery.queued", protocol="smtp", session=mail.trace.session,
        peer=mail.trace.peer_ip, bal=mail.principal, person=mail.person,
        detail={"from": mail.mail_from, "domain": domain, "queue_id": qid,
                "size": size, "message_id": mail.facts.message_id})
        for domain, qid in zip(domains, result.queue_ids, strict=True)]
    return local + queued


class Intake:
    """Commits accepted mail, and its audit records, to local INBOXes and the outbound queue."""

    def __init__(self, store: DeliveryStore, hostname: str) -> None:
        self.store = store
        self.hostname = hostname
        self.queued: Callable[[], None] | None = None
        """Told after a commit that queued remote copies (wakes the relay)."""

    async def accept(self, mail: AcceptedMail, now: datetime | None = None) -> DeliveryResult:
        now = now or datetime.now(UTC)
        mail = distinct_recipients(mail)
        header = (f"Return-Path: <{mail.mail_from}>\r\n".encode()
                  + _received(self.hostname, mail.trace, now))
        message = await by_size(len(mail.content), b"".join, (header, mail.content))
        remote = _group_remote(mail.remote)
        plan = DeliveryPlan(
            mail_from=mail.mail_from, owner_bal_id=mail.owner_bal_id,
            local=tuple(LocalCopy(r.bal_id, message) for r in mail.local),
            remote=tuple(RemoteCopy(d, rs, message) for d, rs in remote.items()),
            mss_nil=mail.facts.mss_nil,
            recipients=tuple(r.address for r in mail.local) + mail.remote,
            audit=partial(_audit_events, mail, tuple(remote), len(message)))
        result = await self.store.commit(plan, now)
        if result.queue_ids and self.queued is not None:
            self.queued()
        return result
