"""The policy gate: builds each stage's context from facts, runs the engine, acts on the outcome.

The gate does the look-ups the pure rules may not do (is the recipient a local
BAL and how full it is, which trust list is in force, today's recipient count) and acts on every
part of the engine's `Outcome`: the enforced verdict (REJECT or TEMPFAIL)
becomes an `SmtpReject` carrying the rule's public reply and its internal
reason; warnings ("would refuse") and notes (ACCEPT verdicts) are audited with
the rule, the reason and the trust-list version; the client never sees them.
`refusal` is exhaustive over `Action`: an action added to the policy without
the gate acting on it fails type checking and the tests.

It works on `ClientSession` and `Transaction` values and on the message facts
parsed once by `message.facts`, never on the protocol object. A recipient the
transaction already holds (`Transaction.holds`) is accepted again without a
look-up or a rule: it adds nothing to the envelope or to the R18 counts.
At DATA, a message whose MIME structure nests deeper than `max_mime_depth`
(`limits.max_mime_depth`) is refused (`554 5.6.0`) before any rule runs:
deeper parts could not be shown by FETCH or searched (`mime_tree.MAX_DEPTH`).
Then the message's files are walked and the antivirus asked
(`content_check.ContentInspection`), unless their rules are off, and the
DATA rules decide on those facts too (`attachments`, `antivirus`).

Ref: docs/architecture.md "Conventions" 1, 2, 4-6; R3, R12, R14-R16, R18, R19, R21, R24-R26.
"""

from __future__ import annotations

from typing import Protocol, assert_never

from imap_store.store.delivery import DeliveryStore, RecipientState
from imap_store.store.interfaces import AuditSink
from message.facts import MessageFacts
from message.mime_tree import MAX_DEPTH, MimePart
from policy.address import domain_of
from policy.bal_types import bal_type
from policy.context import (
    DataContext,
    DkimView,
    Listener,
    MailContext,
    PolicyLimits,
    QuotaFacts,
    RcptContext,
    SessionFacts,
    Stage,
)
from policy.engine import Mode, Outcome, PolicyEngine
from policy.quota import NAME as QUOTA_RULE
from policy.reply import SmtpReject
from policy.trust_list import TrustList
from policy.verdict import Action, Verdict

from .content_check import ContentInspection
from .intake import LocalRecipient
from .replies import MIME_TOO_DEEP
from .session import ClientSession, Transaction


class TrustSource(Protocol):
    """Gives the trust list in force (None when none was ever loaded)."""

    @property
    def current(self) -> TrustList | None: ...


def size_param(options: list[str]) -> int | None:
    """The `SIZE=` value of MAIL parameters (RFC 1870), None when absent or malformed."""
    for opt in options:
        key, _, value = opt.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


def quota_facts(found: RecipientState | None) -> QuotaFacts | None:
    """The quota usage the look-up read with an active local recipient (R25)."""
    if found is None or found.status != "active":
        return None
    q = found.quota
    return QuotaFacts(q.used_bytes, q.used_messages, q.limit_bytes, q.limit_messages)


def _rcpt_context(txn: Transaction, address: str, local: bool,
                  found: RecipientState | None, today: int) -> RcptContext:
    """The RCPT facts of `address`; `local`: in one of our domains, `found`: its BAL as
    looked up (None: unknown, or remote)."""
    state = None
    if local:
        state = "unknown" if found is None else (
            "active" if found.status == "active" else "suspended")
    return RcptContext.from_mail(txn.mail, recipient=address,
                                 accepted_recipients=txn.recipients,
                                 recipient_local_state=state, recipients_today=today,
                                 recipient_quota=quota_facts(found))


def audit_reason(verdict: Verdict, trust: TrustList | None) -> str:
    """The internal reason of a verdict as audited: rule, detail, trust-list version."""
    return f"{verdict.rule}: {verdict.reason} (trustlist {trust.version if trust else 'none'})"


def refusal(verdict: Verdict, trust: TrustList | None) -> SmtpReject:
    """The exception that answers an enforced verdict; ACCEPT is a note, never a refusal."""
    match verdict.action:
        case Action.REJECT | Action.TEMPFAIL:
            if verdict.reply is None:  # Verdict's own invariant; kept for the type checker
                raise ValueError(f"{verdict.rule}: a refusal without a reply")
            return SmtpReject(verdict.reply, audit_reason(verdict, trust))
        case Action.ACCEPT:
            raise ValueError(f"{verdict.rule}: an ACCEPT verdict is audited, not answered")
        case _:
            assert_never(verdict.action)


class PolicyGate:
    """Runs the policy engine for one gateway (submission or MX)."""

    def __init__(self, *, local_domains: frozenset[str], delivery: DeliveryStore,
                 limits: PolicyLimits, engine: PolicyEngine, trust: TrustSource,
                 audit: AuditSink, listener: Listener = "submission",
                 max_mime_depth: int = MAX_DEPTH,
                 content: ContentInspection | None = None) -> None:
        self.local_domains = local_domains
        self.max_mime_depth = max_mime_depth
        self.content = content or ContentInspection()
        self.delivery = delivery
        self.limits = limits
        self.engine = engine
        self.trust = trust
        self.audit = audit
        self.listener: Listener = listener

    def _facts(self, client: ClientSession) -> SessionFacts:
        who = client.principal
        return SessionFacts(peer_ip=client.peer_ip, listener=self.listener, tls=client.tls,
                            authenticated_bal=who.address if who else None,
                            bal_type=bal_type(who.bal_type) if who else None,
                            granted_bals=who.granted if who else frozenset(),
                            person=who.person if who else None,
                            peer_cert_dn=client.peer_cert_dn)

    async def check_mail(self, client: ClientSession, address: str,
                         options: list[str]) -> Transaction:
        """MAIL FROM: the new transaction, or SmtpReject."""
        null = address.strip() in ("", "<>")
        ctx = MailContext(session=self._facts(client), mail_from="" if null else address,
                          size_param=size_param(options), local_domains=self.local_domains,
                          limits=self.limits, trust_list=self.trust.current)
        await self._apply(client, Stage.MAIL, ctx, address)
        return Transaction(client, ctx)

    async def check_rcpt(self, txn: Transaction, address: str) -> None:
        """RCPT TO: adds the recipient to `txn`, or SmtpReject; a repeat is accepted once."""
        if txn.holds(address):  # RFC 5321 3.3: already accepted; one copy, no new recipient
            txn.repeated += 1
            return
        found, local = None, domain_of(address) in self.local_domains
        if local:
            found = await self.delivery.lookup(address)
        today = await self._today(txn.session)
        outcome = self.engine.evaluate(Stage.RCPT,
                                       _rcpt_context(txn, address, local, found, today))
        if (found is not None and outcome.verdict is not None
                and outcome.verdict.rule == QUOTA_RULE):
            # R25: a quota refusal is never answered from the cached usage, which an
            # EXPUNGE of this second may have lowered: read the recipient again first.
            found = await self.delivery.lookup(address, fresh=True)
            outcome = self.engine.evaluate(Stage.RCPT,
                                           _rcpt_context(txn, address, local, found, today))
        await self._enforce(txn.session, Stage.RCPT, outcome, address)
        if found is not None:
            txn.add_local(address, LocalRecipient(found.address, found.bal_id))
        else:
            txn.add_remote(address)

    async def _today(self, client: ClientSession) -> int:
        if self.limits.daily_recipient_budget is None or client.principal is None:
            return 0
        return await self.delivery.recipients_today(client.principal.bal_id)

    async def check_data(self, txn: Transaction, facts: MessageFacts, content: bytes,
                         dkim: DkimView | None = None, root: MimePart | None = None) -> None:
        """End of DATA: nothing, or SmtpReject. `dkim`: the verified signatures (MX);
        `root`: the message as `facts` parsed it (`read_parsed`), walked again, not parsed."""
        if facts.nesting > self.max_mime_depth:  # before any rule: no rule reads such a message
            raise SmtpReject(MIME_TOO_DEEP, f"MIME nesting {facts.nesting} exceeds "
                                            f"limits.max_mime_depth {self.max_mime_depth}")
        inspect, modes = self.content, self.engine.modes  # a rule off (or absent) reads nothing
        files = (None if modes.get("attachments", Mode.OFF) is Mode.OFF
                 else await inspect.files(content, root))
        scan = (None if modes.get("antivirus", Mode.OFF) is Mode.OFF
                else await inspect.scan(content))
        ctx = DataContext.from_mail(txn.mail, recipients=txn.recipients, message=facts,
                                    size=len(content), content=files, antivirus=scan,
                                    dkim=dkim, attachment_policy=inspect.policy)
        await self._apply(txn.session, Stage.DATA, ctx, txn.mail.mail_from)

    async def _apply(self, client: ClientSession, stage: Stage, ctx: object,
                     subject: str) -> None:
        await self._enforce(client, stage, self.engine.evaluate(stage, ctx), subject)

    async def _enforce(self, client: ClientSession, stage: Stage, outcome: Outcome,
                       subject: str) -> None:
        """Audit the outcome's warnings and notes, then raise its refusal, if any."""
        for kind, verdicts in (("policy.would_refuse", outcome.warnings),
                               ("policy.note", outcome.notes)):
            for verdict in verdicts:
                await self._audit(client, kind, stage, subject, verdict)
        if outcome.verdict is not None:
            raise refusal(outcome.verdict, self.trust.current)

    async def _audit(self, client: ClientSession, kind: str, stage: Stage, subject: str,
                     verdict: Verdict) -> None:
        await self.audit.record(client.audit_event(kind, {
            "stage": stage.value, "address": subject, "rule": verdict.rule,
            "reason": audit_reason(verdict, self.trust.current),
            "code": verdict.reply.code if verdict.reply else None}))
