"""The relay's delivery reports (RFC 3464): failure, delay and "relayed", to the sender.

Owns: `Outcome` (what became of one recipient at one attempt, as a report
states it), `owed` (the recipients a report must name), `relay_report` (the
report's bytes for one queue row, or None when none is owed) and
`Notices.tell` (hand it to intake, the one way messages enter a mailbox).

Which report, for whom (RFC 3461 4.1, 6.2; R22):
- failure (`Action.FAILED`): a permanent refusal (`5xx`), a peer lacking
  8BITMIME or SMTPUTF8 for a message that needs it, or the end of the
  message's lifetime; sent unless the recipient asked NOTIFY=NEVER (or a
  NOTIFY list without FAILURE);
- delay (`Action.DELAYED`): a message still waiting after `[dsn]
  delay_after`, for a recipient whose NOTIFY includes DELAY (or has no
  NOTIFY: the server's default is FAILURE,DELAY); once per recipient, the
  caller records it (`OutboundQueue.settle(delay_reported=...)`);
- relayed (`Action.RELAYED`): a recipient that asked NOTIFY=SUCCESS,
  accepted by a peer that does not advertise DSN (a peer that does got the
  parameters and reports itself, RFC 3461 5.2.3);
- never a report about a message from the null sender: reports (and MDNs)
  are sent with `MAIL FROM:<>` and cause no report (RFC 3461 6.2, RFC 5321
  4.5.5).

Invariants:
- one report per row and event, naming each recipient once: its
  `Final-Recipient`, its `Original-Recipient` when ORCPT was given, the
  peer's reply as `Diagnostic-Code: smtp` when a peer answered, our own
  reason typed `x-mss` otherwise (never TLS or routing internals);
- RET=FULL returns the whole message, otherwise its header section only
  (RFC 3461 4.3); ENVID is returned decoded (`Original-Envelope-Id`);
- the report goes to the sending BAL's INBOX through intake, from the null
  sender, audited there with the action it reports; a sender that is no
  longer a local BAL gets nothing; `tell` returns the recipients named, so
  the caller audits per recipient whether it was told (`notice`).

Ref: RFC 3461 4.1-4.4, 5.2, 6.2; RFC 3464; RFC 3463 (4.4.7, 5.6.3, 5.6.7);
RFC 5321 4.5.5, 6.1; R22.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from imap_store.store.offload import by_size
from imap_store.store.outbound import QueuedMessage
from message.dsn_params import NO_RCPT_DSN, Notify, decode_recipients, xtext_decode
from message.dsn_report import Action, RecipientStatus, ReportRequest, build_report
from message.facts import read_facts
from policy.address import normalise_address

from ..intake import AcceptedMail, Intake, LocalRecipient, TraceInfo

EXPIRED = "delivery time expired, no further attempt"
EXPIRED_STATUS = "4.4.7"
_CONDITION = {Action.FAILED: Notify.FAILURE, Action.DELAYED: Notify.DELAY,
              Action.RELAYED: Notify.SUCCESS}
_DEFAULT_STATUS = {Action.FAILED: "5.0.0", Action.DELAYED: "4.0.0", Action.RELAYED: "2.0.0"}
_ENHANCED = re.compile(r"\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Outcome:
    """One recipient at one attempt: the peer's reply when one answered, else our reason."""

    recipient: str
    reply: str | None = None
    """The peer's reply, `550 5.1.1 User unknown`."""
    reason: str | None = None
    """Our own reason when no peer reply says it (e.g. `EXPIRED`)."""
    status: str | None = None
    """The enhanced status code; from `reply` (or the action's default) when None."""
    remote_mta: str | None = None

    @property
    def audit_reason(self) -> str:
        return self.reply or self.reason or ""


def enhanced_status(reply: str | None, default: str) -> str:
    """The enhanced code of an SMTP reply (`550 5.1.1 ...` -> `5.1.1`), else `default`."""
    found = _ENHANCED.match(reply or "")
    return found.group(1) if found else default


def expired(recipients: Sequence[str]) -> list[Outcome]:
    """The outcomes of recipients given up at the end of the message's lifetime."""
    return [Outcome(r, reason=EXPIRED, status=EXPIRED_STATUS) for r in recipients]


def owed(item: QueuedMessage, action: Action, outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The outcomes a report on `action` must name: those whose NOTIFY asks for it; none
    for a message from the null sender (a report, or an MDN, never causes a report)."""
    if not item.mail_from:
        return []
    params = {normalise_address(k): v for k, v in decode_recipients(item.dsn_recipients).items()}
    return [o for o in outcomes if params.get(normalise_address(o.recipient), NO_RCPT_DSN)
            .wants(_CONDITION[action])]


def relay_report(item: QueuedMessage, action: Action, outcomes: Sequence[Outcome], *,
                 original: bytes, hostname: str, now: datetime,
                 retry_until: datetime | None = None) -> bytes | None:
    """The report on `outcomes` for the row's sender; None when none is owed."""
    params = {normalise_address(k): v for k, v in decode_recipients(item.dsn_recipients).items()}
    statuses = []
    for o in owed(item, action, outcomes):
        wanted = params.get(normalise_address(o.recipient), NO_RCPT_DSN)
        statuses.append(RecipientStatus(
            o.recipient, action, o.status or enhanced_status(o.reply, _DEFAULT_STATUS[action]),
            original_recipient=wanted.orcpt_text, remote_mta=o.remote_mta,
            diagnostic=o.reply or o.reason, diagnostic_type="smtp" if o.reply else "x-mss",
            last_attempt=None if action is Action.RELAYED else now,
            will_retry_until=retry_until if action is Action.DELAYED else None))
    if not statuses:
        return None
    return build_report(ReportRequest(
        reporting_mta=hostname, sender=item.mail_from, recipients=tuple(statuses),
        original=original, arrival=item.created_at, now=now, full=item.dsn_ret == "FULL",
        envid=xtext_decode(item.dsn_envid) if item.dsn_envid else None))


class Notices:
    """Hands the relay's reports to intake."""

    def __init__(self, intake: Intake, hostname: str) -> None:
        self.intake = intake
        self.hostname = hostname

    async def tell(self, item: QueuedMessage, action: Action, outcomes: Sequence[Outcome],
                   original: bytes, now: datetime | None = None,
                   retry_until: datetime | None = None) -> frozenset[str]:
        """Deliver the report owed on `outcomes` to the sender's INBOX; the recipients
        it names (none when none is owed or the sender is no local BAL)."""
        now = now or datetime.now(UTC)
        named = owed(item, action, outcomes)
        if not named:
            return frozenset()
        state = await self.intake.store.lookup(item.mail_from)
        if state is None:
            return frozenset()
        content = await by_size(len(original), partial(
            relay_report, item, action, named, original=original, hostname=self.hostname,
            now=now, retry_until=retry_until))
        if content is None:
            return frozenset()
        trace = TraceInfo(helo=self.hostname, peer_ip="127.0.0.1", protocol="LOCAL",
                          session=f"relay-{item.id}")
        mail = AcceptedMail(mail_from="", owner_bal_id=None,
                            local=(LocalRecipient(state.address, state.bal_id),), remote=(),
                            content=content, facts=read_facts(content), trace=trace,
                            report=action.value)
        await self.intake.accept(mail, now)
        return frozenset(o.recipient for o in named)
