"""The aiosmtpd handler: SMTP stages to policy verdicts, accepted mail to intake.

The handler only translates: it gathers facts (who is authenticated, is the
recipient a local BAL), asks the policy gate for a verdict at each stage, and
writes the verdict's reply. Deep code raises `SmtpReject`; this is the one
place per protocol that catches it, audits the internal reason and replies
(docs/architecture.md "Conventions" 4, 5). Any other exception becomes `451 4.3.0`, logged with
its traceback and never with message content.

Invariants:
- DATA gets 250 only after intake's commit returned (durable); otherwise 451.
- The audit records each transaction: envelope, size, Message-ID, reply code.

Ref: RFC 5321 3.3, 4.1.1; R3, R14, R24; docs/architecture.md "Conventions" 4, 5, 7.
"""

from __future__ import annotations

import logging
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from imap_store.store.interfaces import AuditEvent, AuditSink, Authenticate, Principal
from message.facts import read_facts
from policy.replies import LOCAL_ERROR
from policy.reply import Reply, SmtpReject

from .gate import PolicyGate, Transaction
from .intake import AcceptedMail, Intake, TraceInfo
from .replies import OK, RECIPIENT_OK, SENDER_OK, SHUTTING_DOWN
from .sasl import SaslMechanisms

log = logging.getLogger("mss.smtp")


def _txn(envelope: Envelope) -> Transaction:
    txn = getattr(envelope, "mss_txn", None)
    if txn is None:
        txn = Transaction()
        envelope.mss_txn = txn  # type: ignore[attr-defined]
    return txn


class GatewayHandler(SaslMechanisms):
    """One handler per listener (`submission` or `mx`)."""

    def __init__(self, *, listener: str, gate: PolicyGate, intake: Intake, audit: AuditSink,
                 authenticate: Authenticate) -> None:
        self.listener = listener
        self.gate = gate
        self.intake = intake
        self.audit = audit
        self.authenticate = authenticate

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error", exc_info=error)
        return LOCAL_ERROR.line()

    async def _refuse(self, server: Any, exc: SmtpReject, stage: str, subject: str) -> str:
        principal = _principal(server.session)
        await self.audit.record(AuditEvent(
            "smtp.refused", protocol="smtp", session=server.session_id,
            peer=_peer(server.session), bal=principal.address if principal else "",
            person=(principal.person or "") if principal else "",
            detail={"stage": stage, "subject": subject, "code": exc.reply.code,
                    "enhanced": exc.reply.enhanced, "reason": exc.reason}))
        return exc.reply.line()

    async def handle_MAIL(self, server: Any, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        txn = _txn(envelope)
        txn.reset()
        try:
            txn.mail = await self.gate.check_mail(server, _principal(session), address,
                                                  mail_options)
        except SmtpReject as exc:
            return await self._refuse(server, exc, "MAIL", address)
        envelope.mail_from = txn.mail.mail_from or "<>"  # aiosmtpd needs a truthy sender
        envelope.mail_options.extend(mail_options)
        return SENDER_OK.line()

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        txn = _txn(envelope)
        try:
            await self.gate.check_rcpt(server, txn, address)
        except SmtpReject as exc:
            return await self._refuse(server, exc, "RCPT", address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return RECIPIENT_OK.line()

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content: bytes = envelope.original_content or b""
        facts = read_facts(content)
        principal = _principal(session)
        txn = _txn(envelope)
        reply = await self._data(server, session, envelope, content, facts, txn)
        await self.audit.record(AuditEvent(
            "smtp.transaction", protocol="smtp", session=server.session_id,
            peer=_peer(session), bal=principal.address if principal else "",
            person=(principal.person or "") if principal else "",
            detail={"listener": self.listener, "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos), "size": len(content),
                    "message_id": facts.message_id, "code": reply.code,
                    "enhanced": reply.enhanced, "tls": server.tls_description()}))
        return reply.line()

    async def _data(self, server: Any, session: Session, envelope: Envelope, content: bytes,
                    facts: Any, txn: Transaction) -> Reply:
        if server.registry.closing:
            return SHUTTING_DOWN
        try:
            await self.gate.check_data(server, txn, facts, len(content))
        except SmtpReject as exc:
            await self._refuse(server, exc, "DATA", envelope.mail_from or "")
            return exc.reply
        server.registry.begin_commit()
        try:
            await self.intake.accept(self._accepted(server, session, envelope, content,
                                                    facts, txn))
        except Exception:
            log.exception("intake failed; message not stored (session %s)", server.session_id)
            return LOCAL_ERROR
        finally:
            server.registry.end_commit()
        return OK

    def _accepted(self, server: Any, session: Session, envelope: Envelope, content: bytes,
                  facts: Any, txn: Transaction) -> AcceptedMail:
        principal = _principal(session)
        proto = "ESMTPSA" if principal else ("ESMTPS" if server.tls_active else "ESMTP")
        trace = TraceInfo(helo=session.host_name or "unknown", peer_ip=_peer(session),
                          protocol=proto, session=server.session_id,
                          tls=server.tls_description())
        return AcceptedMail(
            mail_from=txn.mail.mail_from if txn.mail else "",
            owner_bal_id=principal.bal_id if principal else None,
            local=tuple(txn.local), remote=tuple(txn.remote), content=content, facts=facts,
            trace=trace, principal=principal.address if principal else "",
            person=(principal.person or "") if principal else "")


def _principal(session: Session | None) -> Principal | None:
    data = getattr(session, "auth_data", None)
    return data if isinstance(data, Principal) else None


def _peer(session: Session | None) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""
