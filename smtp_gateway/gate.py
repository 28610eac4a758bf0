"""The policy gate: builds each stage's context from facts, runs the engine.

The gate does the look-ups the pure rules may not do (is the recipient a local
BAL, which trust list is in force) and turns an `Outcome` into either nothing
(go on) or an `SmtpReject` carrying the rule's public reply and its internal
reason. Warnings ("would refuse") and notes are audited here with the rule,
the reason and the trust-list version; the client never sees them.

Ref: docs/architecture.md "Conventions" 1, 2, 4-6; R3, R14-R16, R18, R19, R21.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from imap_store.store.delivery import DeliveryStore
from imap_store.store.interfaces import AuditEvent, AuditSink, Principal
from message.facts import MessageFacts
from policy.context import DataContext, MailContext, PolicyLimits, RcptContext, SessionFacts, Stage
from policy.engine import Outcome, PolicyEngine
from policy.reply import SmtpReject
from policy.trust_list import TrustList
from policy.verdict import Verdict

from .intake import LocalRecipient


class TrustSource(Protocol):
    """Gives the trust list in force (None when none was ever loaded)."""

    @property
    def current(self) -> TrustList | None: ...


@dataclass
class Transaction:
    """Per-transaction state the gate accumulates between MAIL and DATA."""

    mail: MailContext | None = None
    local: list[LocalRecipient] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.mail, self.local, self.remote = None, [], []

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.local) + tuple(self.remote)


def size_param(options: list[str]) -> int | None:
    for opt in options:
        key, _, value = opt.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


class PolicyGate:
    """Runs the policy engine for one gateway (submission or MX)."""

    def __init__(self, *, local_domains: frozenset[str], delivery: DeliveryStore,
                 limits: PolicyLimits, engine: PolicyEngine, trust: TrustSource,
                 audit: AuditSink, listener: str = "submission") -> None:
        self.local_domains = local_domains
        self.delivery = delivery
        self.limits = limits
        self.engine = engine
        self.trust = trust
        self.audit = audit
        self.listener = listener

    def _session(self, server: Any, principal: Principal | None) -> SessionFacts:
        peer = server.session.peer[0] if server.session and server.session.peer else ""
        bal = principal.address if principal else None
        return SessionFacts(peer_ip=str(peer), listener=self.listener,  # type: ignore[arg-type]
                            tls=server.tls_active, authenticated_bal=bal,
                            bal_type=principal.bal_type if principal else None,  # type: ignore[arg-type]
                            granted_bals=(principal.granted | {bal}) if principal and bal
                            else frozenset(),
                            person=principal.person if principal else None)

    async def check_mail(self, server: Any, principal: Principal | None, address: str,
                         options: list[str]) -> MailContext:
        null = address.strip() in ("", "<>")
        ctx = MailContext(session=self._session(server, principal),
                          mail_from="" if null else address,
                          size_param=size_param(options), local_domains=self.local_domains,
                          limits=self.limits, trust_list=self.trust.current)
        await self._apply(server, Stage.MAIL, ctx, address)
        return ctx

    async def check_rcpt(self, server: Any, txn: Transaction, address: str) -> None:
        assert txn.mail is not None
        state, found = None, None
        if _domain(address) in self.local_domains:
            found = await self.delivery.lookup(address)
            state = "unknown" if found is None else (
                "active" if found.status == "active" else "suspended")
        ctx = RcptContext.from_mail(txn.mail, recipient=address,
                                    accepted_recipients=txn.recipients,
                                    recipient_local_state=state,
                                    recipients_today=await self._today(server))
        await self._apply(server, Stage.RCPT, ctx, address)
        if found is not None:
            txn.local.append(LocalRecipient(found.address, found.bal_id))
        else:
            txn.remote.append(address)

    async def _today(self, server: Any) -> int:
        auth = getattr(server.session, "auth_data", None)
        if self.limits.daily_recipient_budget is None or not isinstance(auth, Principal):
            return 0
        return await self.delivery.recipients_today(auth.bal_id)

    async def check_data(self, server: Any, txn: Transaction, facts: MessageFacts,
                         size: int) -> None:
        assert txn.mail is not None
        ctx = DataContext.from_mail(txn.mail, recipients=txn.recipients, headers=facts.headers,
                                    content_type=facts.content_type, size=size)
        await self._apply(server, Stage.DATA, ctx, txn.mail.mail_from)

    async def _apply(self, server: Any, stage: Stage, ctx: object, subject: str) -> None:
        outcome: Outcome = self.engine.evaluate(stage, ctx)
        for kind, verdicts in (("policy.would_refuse", outcome.warnings),
                               ("policy.note", outcome.notes)):
            for v in verdicts:
                await self._audit(server, kind, stage, subject, v)
        if outcome.refused and outcome.verdict and outcome.verdict.reply:
            raise SmtpReject(outcome.verdict.reply, self._reason(outcome.verdict))

    def _reason(self, v: Verdict) -> str:
        tl = self.trust.current
        return f"{v.rule}: {v.reason} (trustlist {tl.version if tl else 'none'})"

    async def _audit(self, server: Any, kind: str, stage: Stage, subject: str,
                     v: Verdict) -> None:
        auth = getattr(server.session, "auth_data", None)
        await self.audit.record(AuditEvent(
            kind, protocol="smtp", session=server.session_id,
            peer=str(server.session.peer[0]) if server.session.peer else "",
            bal=auth.address if isinstance(auth, Principal) else "",
            detail={"stage": stage.value, "subject": subject, "rule": v.rule,
                    "reason": self._reason(v),
                    "code": v.reply.code if v.reply else None}))
