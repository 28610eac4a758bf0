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
- The DSN parameters of the transaction go with each outbound queue row
  (RET, ENVID, NOTIFY/ORCPT of its recipients), to be passed on.
- After the commit, the local recipients that asked NOTIFY=SUCCESS are
  reported to the sender (`dsn.success_report`) by a message that enters
  here, from the null sender: into the sender's INBOX when it is a local
  BAL, queued for its domain otherwise (sealed with the key of the first
  reported BAL). A report is never reported on (its sender is null). A
  report that cannot be written is logged; the delivery stands (R22).

Ref: docs/architecture.md "Conventions" 7; RFC 5321 3.3, 4.4 (trace information), 6.1;
RFC 3461 5.2.2, 6.2; R18, R19, R22, R24.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache, partial
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
from message.dsn_params import encode_recipients
from message.facts import MessageFacts, read_facts
from policy.address import domain_of, normalise_address

from .dsn import DsnRequest, success_report

T = TypeVar("T")
log = logging.getLogger("mss.smtp")


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
    dsn: DsnRequest = field(default_factory=DsnRequest)
    report: str = ""
    """For a delivery status report: the action it reports (audited), "" otherwise."""


def _safe_helo(helo: str) -> str:
    """The client's EHLO name, limited to what may appear in a Received: field."""
    cleaned = "".join(c for c in helo if c.isascii() and c.isprintable() and c not in "()\\;")
    return cleaned[:255] or "unknown"


@lru_cache(maxsize=8)
def _date(second: datetime, offset: timedelta | None) -> str:
    """The RFC 5322 3.3 date-time of `second` (whole seconds; the offset in the key: equal
    instants in two zones are written apart); messages of one second share it."""
    return format_datetime(second)


def _received(hostname: str, t: TraceInfo, now: datetime) -> bytes:
    tls = f" ({t.tls})" if t.tls else ""
    date = _date(now.replace(microsecond=0), now.utcoffset())
    return (f"Received: from {_safe_helo(t.helo)} ([{t.peer_ip}])\r\n\tby {hostname} (mss-server) "
            f"with {t.protocol} id {t.session}{tls};\r\n\t{date}\r\n").encode()


def _first_of_each(items: Iterable[T], key: Callable[[T], Hashable]) -> tuple[T, ...]:
    seen: set[Hashable] = set()
    kept: list[T] = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return tuple(kept)


def distinct_recipients(mail: AcceptedMail) -> AcceptedMail:
    """`mail` with each local BAL and each remote address once, in first-seen order
    (`mail` itself when it names each once already)."""
    local = _first_of_each(mail.local, lambda r: r.bal_id)
    remote = _first_of_each(mail.remote, normalise_address)
    if len(local) == len(mail.local) and len(remote) == len(mail.remote):
        return mail
    return replace(mail, local=local, remote=remote)


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
                "message_id": mail.facts.message_id, "x_mss_nil": mail.facts.mss_nil}
        | ({"report": mail.report} if mail.report else {}))
        for rcpt, (_bal, uid) in zip(mail.local, result.local_uids, strict=True)]
    queued = [AuditEvent(
        "delivery.queued", protocol="smtp", session=mail.trace.session,
        peer=mail.trace.peer_ip, bal=mail.principal, person=mail.person,
        detail={"from": mail.mail_from, "domain": domain, "queue_id": qid,
                "size": size, "message_id": mail.facts.message_id}
        | ({"report": mail.report} if mail.report else {}))
        for domain, qid in zip(domains, result.queue_ids, strict=True)]
    return local + queued


class Intake:
    """Commits accepted mail, and its audit records, to local INBOXes and the outbound queue."""

    def __init__(self, store: DeliveryStore, hostname: str,
                 local_domains: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.hostname = hostname
        self.queued: Callable[[], None] | None = None
        """Told after a commit that queued remote copies (wakes the relay)."""
        self.local_domains = local_domains
        self.count_recipients = True
        """Whether deliveries record their distinct recipients of the day (R18): only while a
        daily budget is set (`recipients.daily_budget`), as nothing else reads them."""

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
            remote=tuple(RemoteCopy(d, rs, message, encode_recipients(
                {r: mail.dsn.of(r) for r in rs})) for d, rs in remote.items()),
            mss_nil=mail.facts.mss_nil,
            recipients=tuple(r.address for r in mail.local) + mail.remote,
            dsn_ret=mail.dsn.mail.ret.value if mail.dsn.mail.ret else None,
            dsn_envid=mail.dsn.mail.envid,
            audit=partial(_audit_events, mail, tuple(remote), len(message)),
            count_recipients=self.count_recipients)
        result = await self.store.commit(plan, now)
        if result.queue_ids and self.queued is not None:
            self.queued()
        await self._report_success(mail, message, now)
        return result

    async def _report_success(self, mail: AcceptedMail, message: bytes, now: datetime) -> None:
        """The success report owed for `mail`'s local recipients, into intake (R22)."""
        if not mail.mail_from or not mail.local or not mail.dsn.recipients:
            return  # nothing asked (the common case): no work on the delivery path
        try:
            report = await by_size(len(message), partial(
                success_report, reporting_mta=self.hostname, mail_from=mail.mail_from,
                delivered=[r.address for r in mail.local], mail=mail.dsn.mail,
                recipients=mail.dsn.recipients, original=message, arrival=now, now=now))
            if report is not None:
                await self._deliver_report(mail, report, now)
        except Exception:
            log.exception("delivery report not written (session %s)", mail.trace.session)

    async def _deliver_report(self, mail: AcceptedMail, report: bytes, now: datetime) -> None:
        trace = TraceInfo(helo=self.hostname, peer_ip="127.0.0.1", protocol="LOCAL",
                          session=mail.trace.session)
        local: tuple[LocalRecipient, ...] = ()
        remote: tuple[str, ...] = ()
        owner = None
        state = await self.store.lookup(mail.mail_from)
        if state is not None and state.status == "active":
            local = (LocalRecipient(state.address, state.bal_id),)
        elif state is not None or domain_of(mail.mail_from) in self.local_domains:
            log.info("delivery report dropped: its sender is no active BAL (session %s)",
                     mail.trace.session)
            return
        else:
            remote, owner = (mail.mail_from,), mail.local[0].bal_id
        facts = await by_size(len(report), read_facts, report)
        await self.accept(AcceptedMail(
            mail_from="", owner_bal_id=owner, local=local, remote=remote, content=report,
            facts=facts, trace=trace, report="delivered"), now)
