"""The aiosmtpd handler: SMTP stages to policy verdicts, accepted mail to intake.

The handler only translates: at MAIL it reads the session's facts once
(`MssSMTP.client_session`) and opens our own `Transaction`; at each stage it
asks the policy gate for a verdict and writes the verdict's reply. Deep code
raises `SmtpReject`; this is the one place per protocol that catches it,
audits the internal reason and replies (docs/architecture.md "Conventions" 4,
5). Every other exception becomes `451 4.3.0`, logged with its traceback and
never with message content. The hook signatures are the only aiosmtpd types
here; everything below them sees `ClientSession` and `Transaction`.

Invariants:
- DATA gets 250 only after intake's commit returned (durable); otherwise 451.
- A committed delivery is never answered 451: its `smtp.transaction` audit is
  queued with `record_soon` (never raises, written within 0.1 s; the delivery's
  own `delivery.*` records are in its transaction); refusals and failures
  before any commit are audited with `record` (a failure there is a 451).
- The audit records each transaction: envelope, size, Message-ID, reply code,
  how many RCPT commands it had and how many named a recipient already held.
- An authenticated session whose login no longer stands (its BAL suspended
  or deleted, or the password it used changed, in any process: the
  principal's `Standing`) gets `421 4.7.0` at its next MAIL or DATA, nothing
  is accepted, and the connection is closed (RFC 5321 3.8).
- The message is parsed once for its facts and the content checks, on the
  event loop up to `offload.ON_LOOP_MAX` octets, in a worker thread above (a
  large message never holds the loop).
- On every listener, the `Authentication-Results` fields of an accepted
  message that name our authserv-id (the host name) are removed before it
  goes to intake, after the DKIM check read it as received; the MX then
  prepends its own (RFC 8601 5, `message.auth_results`).

Ref: RFC 5321 3.3, 4.1.1; RFC 8601 5; R3, R14, R24; docs/architecture.md "Conventions" 4, 5, 7.
"""

from __future__ import annotations

import logging
from functools import partial

from aiosmtpd.smtp import Envelope, Session

from imap_store.store.interfaces import AuditSink, Authenticate
from imap_store.store.offload import by_size
from message.auth_results import without_our_results
from message.facts import MessageFacts, read_parsed
from message.mime_tree import MimePart
from policy.context import DkimView
from policy.replies import LOCAL_ERROR
from policy.reply import Reply, SmtpReject

from .gate import PolicyGate
from .intake import AcceptedMail, Intake, TraceInfo
from .protocol import MssSMTP
from .registry import SessionRegistry
from .replies import ACCESS_WITHDRAWN, OK, RECIPIENT_OK, SENDER_OK, SHUTTING_DOWN
from .sasl import SaslMechanisms
from .session import ClientSession, Transaction

log = logging.getLogger("mss.smtp")


class GatewayHandler(SaslMechanisms):
    """One handler per SMTP listener."""

    def __init__(self, *, gate: PolicyGate, intake: Intake, audit: AuditSink,
                 authenticate: Authenticate, authserv_id: str) -> None:
        self.gate = gate
        self.intake = intake
        self.audit = audit
        self.authenticate = authenticate
        self.authserv_id = authserv_id
        """Our authentication service identifier, the host name (RFC 8601 2.5)."""

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error", exc_info=error)
        return LOCAL_ERROR.line()

    async def _refuse(self, client: ClientSession, exc: SmtpReject, stage: str,
                      subject: str) -> str:
        await self.audit.record(client.audit_event("smtp.refused", {
            "stage": stage, "address": subject, "code": exc.reply.code,
            "enhanced": exc.reply.enhanced, "reason": exc.reason}))
        return exc.reply.line()

    async def handle_MAIL(self, server: MssSMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        client = server.client_session()
        if _withdrawn(client):
            return _end_withdrawn(server)
        try:
            txn = await self.gate.check_mail(client, address, mail_options)
        except SmtpReject as exc:
            return await self._refuse(client, exc, "MAIL", address)
        server.transaction = txn
        envelope.mail_from = txn.mail.mail_from or "<>"  # aiosmtpd needs a truthy sender
        envelope.mail_options.extend(mail_options)
        return SENDER_OK.line()

    async def handle_RCPT(self, server: MssSMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        txn = server.current_transaction()
        try:
            await self.gate.check_rcpt(txn, address)
        except SmtpReject as exc:
            return await self._refuse(txn.session, exc, "RCPT", address)
        envelope.rcpt_tos.append(address)  # aiosmtpd refuses DATA without one
        envelope.rcpt_options.extend(rcpt_options)
        return RECIPIENT_OK.line()

    async def handle_DATA(self, server: MssSMTP, session: Session, envelope: Envelope) -> str:
        txn = server.current_transaction()
        if _withdrawn(txn.session):
            return _end_withdrawn(server)
        content = envelope.original_content or b""
        facts, root = await by_size(len(content), read_parsed, content)
        reply, committed = await self._data(server.registry, txn, content, facts, root)
        event = txn.session.audit_event("smtp.transaction", {
            "listener": txn.session.listener, "from": txn.mail.mail_from or "<>",
            "to": list(txn.recipients), "rcpt_commands": txn.rcpt_commands,
            "repeated": txn.repeated, "size": len(content),
            "message_id": facts.message_id, "code": reply.code, "enhanced": reply.enhanced,
            "tls": txn.session.tls_description})
        if committed:
            await self.audit.record_soon(event)  # the reply does not wait for the summary
        else:
            await self.audit.record(event)
        return reply.line()

    async def authenticate_content(self, content: bytes) -> tuple[DkimView | None, bytes]:
        """The DKIM outcome of `content` and the header field stating it (to prepend);
        submission verifies nothing (the MX does, `mx.MxHandler`)."""
        return None, b""

    def our_authserv_id(self) -> str:
        """The authserv-id whose `Authentication-Results` fields are ours alone."""
        return self.authserv_id

    async def _data(self, registry: SessionRegistry, txn: Transaction, content: bytes,
                    facts: MessageFacts, root: MimePart) -> tuple[Reply, bool]:
        """The reply to DATA and whether the message was committed."""
        if registry.closing:
            return SHUTTING_DOWN, False
        dkim, results = await self.authenticate_content(content)
        try:
            await self.gate.check_data(txn, facts, content, dkim, root)
        except SmtpReject as exc:
            await self._refuse(txn.session, exc, "DATA", txn.mail.mail_from)
            return exc.reply, False
        stored = await by_size(len(content), partial(
            _as_stored, results=results, authserv_id=self.our_authserv_id()), content)
        try:
            await self.intake.accept(_accepted(txn, stored, facts))
        except Exception:
            log.exception("intake failed; message not stored (session %s)",
                          txn.session.session_id)
            return LOCAL_ERROR, False
        return OK, True


def _as_stored(content: bytes, results: bytes, authserv_id: str) -> bytes:
    """The message handed to intake: our `Authentication-Results` field (`results`, empty
    when nothing was verified) on top of `content` without the fields that name our
    authserv-id, written by the sender in our name (RFC 8601 5)."""
    kept = without_our_results(content, authserv_id)
    return b"".join([results, kept]) if results else kept  # a join copies without the GIL


def _accepted(txn: Transaction, content: bytes, facts: MessageFacts) -> AcceptedMail:
    client = txn.session
    principal = client.principal
    proto = "ESMTPSA" if principal else ("ESMTPS" if client.tls else "ESMTP")
    trace = TraceInfo(helo=client.ehlo or "unknown", peer_ip=client.peer_ip, protocol=proto,
                      session=client.session_id, tls=client.tls_description)
    return AcceptedMail(
        mail_from=txn.mail.mail_from, owner_bal_id=principal.bal_id if principal else None,
        local=tuple(txn.local), remote=tuple(txn.remote), content=content, facts=facts,
        trace=trace, principal=client.bal, person=client.person, dsn=txn.dsn)


def _withdrawn(client: ClientSession) -> bool:
    return client.principal is not None and client.principal.standing.withdrawn


def _end_withdrawn(server: MssSMTP) -> str:
    """`421 4.7.0` and close: the session's login no longer stands (RFC 5321 3.8)."""
    server.close_with(ACCESS_WITHDRAWN)
    return ACCESS_WITHDRAWN.line()
