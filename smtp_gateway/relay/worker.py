"""The relay worker: drains the outbound queue inside `mss serve`.

Owns: `RelaySettings` (the `[relay]` keys), `RelayWorker` (claims due rows,
at most `connections` at once, sends each to its domain's route, records the
outcome per recipient) and `give_up` (the end of a message's life: the
sender told, the row gone; used by the worker and by the `queue-expire` job).

Invariants:
- a row is claimed before it is sent (`OutboundQueue.claim`): two processes
  on one database never send the same row at once; a claim lasts `lease`
  seconds and every attempt ends well within it (`timeout` per command, the
  whole attempt bounded by half the lease);
- each recipient ends delivered (`250` after DATA), refused (`5xx`, or a
  peer without the 8BITMIME/SMTPUTF8 the message needs, or a domain DNS
  says takes no mail (`routing.Unroutable`): the sender gets a failure
  report at once), or waits for the next attempt (`4xx`, no route at this attempt,
  TLS or certificate failure) after an exponential backoff from
  `retry_base` to `retry_max` seconds; a message older than `lifetime`
  seconds is given up and the sender told. Each outcome is audited per
  recipient in the same transaction that records it;
- reports (`notice`, RFC 3464): failure as above; delay once per recipient
  when a message still waits `delay_after` seconds after it was queued
  (recorded on the row); "relayed" for NOTIFY=SUCCESS recipients accepted by
  a peer without DSN (a peer with DSN is given the parameters instead);
- with a DKIM signer (`[dkim]`), a message whose sender is in one of our
  domains is signed before it is sent (RFC 6376), each attempt;
- never clear text, never an unverified peer (`client.send`);
- at stop, new claims stop, attempts under way get the grace period, then
  are cancelled; a cancelled attempt that had not sent its data gives its
  row back at once, one that had keeps its claim until the lease ends (the
  peer may have taken it: RFC 5321 6.1's duplicate window, and the only one).

Ref: R4, R7, R22, R24; RFC 5321 4.5.4.1 (retry strategy), 4.5.5, 6.1; RFC 3461 4, 5.2;
RFC 6376.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from imap_store.store.interfaces import AuditEvent
from imap_store.store.outbound import OutboundQueue, QueuedMessage
from message.dsn_params import decode_recipients
from message.dsn_report import Action

from ..dkim import DkimSigner, signing_domain
from .client import (
    Attempt,
    Deferred,
    Envelope,
    Refused,
    TrustSource,
    Unsupported,
    send,
    without_return_path,
)
from .notice import EXPIRED, Notices, Outcome, expired
from .routing import NoRoute, Resolver, Unroutable, routes_for

log = logging.getLogger("mss.relay")
__all__ = ["EXPIRED", "RelaySettings", "RelayWorker", "expired", "give_up"]


@dataclass(frozen=True)
class RelaySettings:
    transport: dict[str, str] = field(default_factory=dict)
    mx_port: int = 25
    connections: int = 10
    retry_base: float = 60.0
    retry_max: float = 3600.0
    lifetime: float = 432_000.0
    timeout: float = 300.0
    lease: float = 1800.0
    poll: float = 1.0
    delay_after: float = 14400.0

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1` (1 after the first attempt)."""
        return float(min(self.retry_max, self.retry_base * 2.0 ** max(attempts - 1, 0)))


def _event(kind: str, item: QueuedMessage, rcpt: str, **detail: object) -> AuditEvent:
    """One recipient's outcome; `process` tells which `mss serve` process acted."""
    return AuditEvent(kind, protocol="relay", session=f"relay-{item.id}", bal=item.mail_from,
                      detail={"queue_id": item.id, "from": item.mail_from, "to": rcpt,
                              "domain": item.domain, "attempt": item.attempts,
                              "process": os.getpid(), **detail})


def xtext(value: str) -> str:
    """`value` as xtext (RFC 3461 4): `+`, `=` and octets outside `!`..`~` as `+XX`."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}"
                   for c in value)


def envelope_of(item: QueuedMessage) -> Envelope:
    """The row's envelope with the DSN parameters as the sender wrote them, and an ORCPT
    naming the recipient where the sender gave none (RFC 3461 4.2, for ASCII addresses)."""
    mail_dsn = tuple(x for x in (f"RET={item.dsn_ret}" if item.dsn_ret else "",
                                 f"ENVID={item.dsn_envid}" if item.dsn_envid else "") if x)
    rcpt_dsn = {}
    params = decode_recipients(item.dsn_recipients)
    for rcpt in item.recipients:
        p = params.get(rcpt)
        notify = "" if p is None or p.notify is None else (
            ",".join(sorted(n.value for n in p.notify)) or "NEVER")
        orcpt = (p.orcpt if p is not None and p.orcpt else
                 f"rfc822;{xtext(rcpt)}" if rcpt.isascii() else "")
        rcpt_dsn[rcpt] = tuple(x for x in (f"NOTIFY={notify}" if notify else "",
                                           f"ORCPT={orcpt}" if orcpt else "") if x)
    return Envelope(item.mail_from, item.recipients, mail_dsn, rcpt_dsn)


async def give_up(queue: OutboundQueue, notices: Notices, item: QueuedMessage,
                  failures: Sequence[Outcome], original: bytes | None,
                  remaining: Sequence[str] = (), next_attempt_at: datetime | None = None,
                  delivered: Sequence[AuditEvent] = (), now: datetime | None = None) -> bool:
    """Send the sender the failure report on `failures`, then record them; the
    `remaining` recipients keep waiting. False when the claim had lapsed."""
    now = now or datetime.now(UTC)
    if original is None:
        original = await queue.message(item)
    told = await notices.tell(item, Action.FAILED, failures, original, now)
    events = [*delivered, *(_event("relay.failed", item, o.recipient, reason=o.audit_reason,
                                   notice=o.recipient in told) for o in failures)]
    return await queue.settle(item, remaining, next_attempt_at or now, None, events)


class RelayWorker:
    """Sends due rows; `wake()` when intake queued something new."""

    def __init__(self, *, queue: OutboundQueue, notices: Notices, trust: TrustSource,
                 context: Callable[[], ssl.SSLContext], settings: RelaySettings,
                 ehlo_name: str, signer: DkimSigner | None = None,
                 domains: frozenset[str] = frozenset(),
                 resolver: Resolver | None = None) -> None:
        self.queue = queue
        self.resolver = resolver  # DNS for MX routes; None: dnspython's default resolver
        self.notices = notices
        self.trust = trust
        self.context = context
        self.settings = settings
        self.ehlo_name = ehlo_name
        self.signer = signer
        self.domains = domains
        self._wake = asyncio.Event()
        self._attempts: dict[asyncio.Task[None], QueuedMessage] = {}
        self._data_sent: set[int] = set()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="relay")

    async def _run(self) -> None:
        while not self._stopping:
            free = self.settings.connections - len(self._attempts)
            if free > 0:
                try:
                    claimed = await self.queue.claim(datetime.now(UTC), free,
                                                     self.settings.lease,
                                                     self.settings.lifetime)
                except Exception:
                    log.exception("relay: claiming queued messages failed")
                    claimed = []
                for item in claimed:
                    task = asyncio.get_running_loop().create_task(self._attempt(item))
                    self._attempts[task] = item
                    task.add_done_callback(self._done)
                if len(claimed) == free:
                    continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll)
            except TimeoutError:
                pass
            self._wake.clear()

    def _done(self, task: asyncio.Task[None]) -> None:
        item = self._attempts.pop(task, None)
        if item is not None:
            self._data_sent.discard(item.id)
        if not task.cancelled() and task.exception() is not None:
            log.error("relay: attempt on queue row %s failed", item.id if item else "?",
                      exc_info=task.exception())
        self._wake.set()

    async def stop(self, grace: float) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            # A claim waiting for the database's write lock does not hold the stop
            # past its grace: the loop is cancelled (its claim transaction rolls back).
            _ended, running = await asyncio.wait([self._loop_task], timeout=grace)
            for task in running:
                task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        pending = list(self._attempts)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=grace)
            items = [self._attempts[t] for t in late if t in self._attempts]
            keep = {i.id for i in items if i.id in self._data_sent}
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            for item in items:
                if item.id not in keep:
                    await self.queue.release(item)

    async def _attempt(self, item: QueuedMessage) -> None:
        now = datetime.now(UTC)
        if item.created_at + timedelta(seconds=self.settings.lifetime) <= now:
            await give_up(self.queue, self.notices, item, expired(item.recipients), None,
                          now=now)
            return
        message = await self.queue.message(item)
        try:
            async with asyncio.timeout(self.settings.lease / 2):
                outcome: Attempt | Exception = await self._send(item, message)
        except (Deferred, Refused, TimeoutError) as exc:
            outcome = exc
        await self._record(item, message, outcome)

    async def _send(self, item: QueuedMessage, message: bytes) -> Attempt:
        try:
            routes = await routes_for(item.domain, self.settings.transport,
                                      mx_port=self.settings.mx_port, resolver=self.resolver)
        except Unroutable as exc:  # RFC 5321 5.1, RFC 7505: the sender is told at once
            raise Unsupported(exc.status, str(exc)) from None
        except (NoRoute, ValueError) as exc:
            raise Deferred(str(exc)) from None
        reasons = []
        message = await self._signed(item, without_return_path(message))
        for route in routes:
            try:
                return await send(route, context=self.context(), ehlo_name=self.ehlo_name,
                                  domain=item.domain, trust=self.trust,
                                  envelope=envelope_of(item), message=message,
                                  timeout=self.settings.timeout,
                                  on_data=lambda: self._data_sent.add(item.id))
            except Deferred as exc:
                reasons.append(str(exc))
        raise Deferred("; ".join(reasons) or "no route")

    async def _signed(self, item: QueuedMessage, message: bytes) -> bytes:
        """`message` with the operator's DKIM signature for the sender's domain, when
        there is a signer and the domain is ours."""
        domain = signing_domain(item.mail_from, self.domains)
        if self.signer is None or domain is None:
            return message
        return await self.signer.signed(message, domain)

    async def _record(self, item: QueuedMessage, message: bytes,
                      outcome: Attempt | Exception) -> None:
        now = datetime.now(UTC)
        later = now + timedelta(seconds=self.settings.backoff(item.attempts))
        if isinstance(outcome, Refused):
            failures = [Outcome(r, reason=str(outcome), status=outcome.status,
                                remote_mta=outcome.remote or None)
                        if isinstance(outcome, Unsupported) else
                        Outcome(r, reply=str(outcome), remote_mta=outcome.remote or None)
                        for r in item.recipients]
            await give_up(self.queue, self.notices, item, failures, message, now=now)
            return
        if not isinstance(outcome, Attempt):
            reason = str(outcome) or type(outcome).__name__
            log.info("relay: queue row %s to %s deferred: %s", item.id, item.domain, reason)
            told = await self._delay(item, message, [Outcome(r) for r in item.recipients], now)
            await self.queue.settle(item, item.recipients, later, reason, [
                _event("relay.deferred", item, r, reason=reason) for r in item.recipients],
                delay_reported=told)
            return
        await self._relayed(item, message, outcome, now)
        delivered = [_event("relay.delivered", item, r, dsn_passed=outcome.peer_dsn,
                            **outcome.tls) for r in outcome.accepted]
        waiting = list(outcome.deferred)
        deferred = [_event("relay.deferred", item, r, reason=why)
                    for r, why in outcome.deferred.items()]
        if outcome.refused:
            failures = [Outcome(r, reply=why, remote_mta=outcome.remote or None)
                        for r, why in outcome.refused.items()]
            await give_up(self.queue, self.notices, item, failures,
                          message, remaining=waiting, next_attempt_at=later,
                          delivered=delivered + deferred, now=now)
            return
        told = await self._delay(item, message, [
            Outcome(r, reply=why, remote_mta=outcome.remote or None)
            for r, why in outcome.deferred.items()], now)
        error = "; ".join(outcome.deferred.values()) or None
        await self.queue.settle(item, waiting, later, error, delivered + deferred,
                                delay_reported=told)

    async def _relayed(self, item: QueuedMessage, message: bytes, outcome: Attempt,
                       now: datetime) -> None:
        """The "relayed" report for NOTIFY=SUCCESS recipients a peer without DSN took."""
        if outcome.peer_dsn or not outcome.accepted:
            return
        try:
            await self.notices.tell(item, Action.RELAYED, [
                Outcome(r, remote_mta=outcome.remote or None) for r in outcome.accepted],
                message, now)
        except Exception:
            log.exception("relay: report on queue row %s not written", item.id)

    async def _delay(self, item: QueuedMessage, message: bytes, waiting: Sequence[Outcome],
                     now: datetime) -> list[str]:
        """The one delay report owed to waiting recipients past `delay_after`; returns
        the recipients now done with it (told, or not asking)."""
        if item.created_at + timedelta(seconds=self.settings.delay_after) > now:
            return []
        due = [o for o in waiting if o.recipient not in item.delay_reported]
        if not due:
            return []
        until = item.created_at + timedelta(seconds=self.settings.lifetime)
        try:
            await self.notices.tell(item, Action.DELAYED, due, message, now, retry_until=until)
        except Exception:
            log.exception("relay: delay report on queue row %s not written", item.id)
            return []
        return [o.recipient for o in due]
