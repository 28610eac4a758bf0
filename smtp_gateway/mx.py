"""The inter-operator MX (`smtp` listener, port 25): STARTTLS, operator certificate.

Owns: `MxSMTP` (the MX's session: STARTTLS required, no AUTH, the peer's
verified certificate DN read into the session facts), `MxHandler` (the
gateway handler without AUTH in EHLO) and `start_mx_listener`.

Invariants:
- nothing but EHLO/HELO, NOOP, STARTTLS and QUIT before STARTTLS: any other
  command gets `530 5.7.0` (RFC 3207 4);
- the TLS context comes from the process's TLS profile at each connection
  (`context()`), so a reload or a CRL refresh applies to the next session;
  it requests a client certificate and verifies one sent against
  `tls.ca_bundle` and the CRLs: an unknown-CA, expired or revoked
  certificate fails the handshake itself, and the failure is audited
  (`tls.handshake_failed`: peer address and OpenSSL's verify reason) and
  logged once (`HandshakeLog`, as on every listener);
- every TLS session is audited once established (`tls.session`: protocol,
  cipher, peer subject), as on every listener (`MssSMTP`);
- the session facts carry the verified peer DN; the policy gate, with the
  listener `mx`, refuses MAIL without a certificate (`530 5.7.0`) and with a
  DN not listed for the MAIL FROM domain (`550 5.7.1`), and RCPT to anything
  but an active local BAL (R1, R3, R4, R14, R28); accepted mail goes to the
  same intake as submission;
- no AUTH: not offered in EHLO, `502 5.5.1` if tried;
- the MX offers what submission offers: PIPELINING, ENHANCEDSTATUSCODES,
  DSN (its parameters kept with the message, so that local delivery reports
  back, RFC 3461 5.2.2), 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531:
  arguments read as UTF-8, invalid UTF-8 refused); the message is stored as
  received, never re-encoded, MDNs (RFC 8098) and every header included;
- DKIM (RFC 6376): every message's signatures are verified (`DkimVerifier`,
  its key lookup asynchronous and replaceable) on the message as received,
  before the DATA rules, which judge the outcome (rule `dkim`, `warn` by
  default); then the `Authentication-Results` fields the sender wrote in our
  name (our host as authserv-id, any case) are removed, those of other
  authserv-ids kept, and an `Authentication-Results` field naming our host is
  prepended (RFC 8601 5, `message.auth_results`).

Ref: R1, R3, R4, R5, R6, R7, R22, R23; RFC 3207 (STARTTLS), RFC 5321 4.2.4; RFC 3461;
RFC 6152; RFC 6531; RFC 6376; RFC 8098; RFC 8601.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from collections.abc import Callable

from aiosmtpd.smtp import Envelope, Session, syntax

from imap_store.store.admission import Admission, AdmissionLimits, Doorway, Ticket
from imap_store.store.interfaces import AuditSink
from imap_store.store.tls_failures import HandshakeLog
from policy.context import DkimView

from .dkim import DkimVerifier
from .gate import PolicyGate
from .handler import GatewayHandler
from .intake import Intake
from .listener import SmtpLimits, SmtpListener, refuse_connection
from .protocol import MssSMTP
from .rcpt_limits import RcptLimits
from .registry import SessionRegistry
from .replies import NO_AUTH_HERE
from .session import ClientSession
from .tls_session import peer_dn

LISTENER = "smtp"


def mx_admission(limits: SmtpLimits) -> Admission:
    """The MX's connection caps: nobody logs in here, so every session counts as one
    not logged in, bounded by `smtp_max_connections` alone, with no login deadline."""
    cap = limits.smtp_max_connections
    return Admission(AdmissionLimits(max_connections=cap, max_preauth=cap,
                                     max_preauth_per_address=cap, max_per_bal=cap))


class MxHandler(GatewayHandler):
    """The gateway handler of the MX: the same hooks, no AUTH advertised, DKIM verified."""

    dkim: DkimVerifier | None = None

    async def authenticate_content(self, content: bytes) -> tuple[DkimView | None, bytes]:
        if self.dkim is None:
            return None, b""
        return await self.dkim.check(content)

    def our_authserv_id(self) -> str:
        """The verifier's (reloaded with the configuration): the authserv-id removed is the
        one our field names."""
        return self.dkim.authserv_id if self.dkim is not None else self.authserv_id

    async def handle_EHLO(self, server: MssSMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]


class MxSMTP(MssSMTP):
    """An MX session: the peer's certificate DN in its facts, TLS audited, no AUTH."""

    _mx_client: tuple[ClientSession, ClientSession] | None = None
    """The last session facts of the base class and these facts built on them."""

    def client_session(self) -> ClientSession:
        base = super().client_session()
        kept = self._mx_client
        if kept is not None and kept[0] is base:  # nothing changed: the same facts
            return kept[1]
        client = ClientSession(session_id=base.session_id, listener=base.listener,
                               peer_ip=base.peer_ip, tls=base.tls,
                               tls_description=base.tls_description, principal=None,
                               ehlo=base.ehlo, peer_cert_dn=peer_dn(self._ssl_object()))
        self._mx_client = (base, client)
        return client

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        await self.push(NO_AUTH_HERE.line())


async def start_mx_listener(*, host: str, port: int, context: Callable[[], ssl.SSLContext],
                            gate: PolicyGate, intake: Intake, audit: AuditSink,
                            limits: SmtpLimits, hostname: str,
                            dkim: DkimVerifier | None = None,
                            admission: Admission | None = None,
                            sock: socket.socket | None = None) -> SmtpListener:
    """Bind and serve the MX (or serve `sock`, already listening); `context()` gives the
    TLS context for each new session; `dkim` verifies each message (None: not at all)."""
    registry = SessionRegistry()
    tls_failures = HandshakeLog(LISTENER, audit=audit, protocol="smtp")
    rcpt_limits = RcptLimits(max_commands=limits.smtp_max_rcpt_commands,
                             max_refused=limits.smtp_max_refused_rcpts)
    handler = MxHandler(gate=gate, intake=intake, audit=audit, authenticate=_no_login,
                        authserv_id=hostname)
    handler.dkim = dkim

    def factory(ticket: Ticket) -> MssSMTP:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return MxSMTP(
                handler, registry=registry, listener=LISTENER, audit=audit,
                rcpt_limits=rcpt_limits, ticket=ticket, tls_failures=tls_failures,
                line_timeout=float(limits.smtp_command_line_timeout), hostname=hostname,
                ident="mss-server", data_size_limit=limits.max_message_size,
                auth_required=False, auth_require_tls=True, require_starttls=True,
                auth_exclude_mechanism=["LOGIN", "PLAIN"],
                timeout=limits.smtp_command_timeout, enable_SMTPUTF8=True, decode_data=False,
                tls_context=context())

    doorway = Doorway(admission if admission is not None else mx_admission(limits),
                      factory, refuse_connection, failures=tls_failures)
    loop = asyncio.get_running_loop()
    server = (await loop.create_server(doorway.protocol, sock=sock) if sock is not None else
              await loop.create_server(doorway.protocol, host=host, port=port,
                                       reuse_address=True))
    return SmtpListener(LISTENER, server, registry, doorway)


async def _no_login(login: str, secret: str, peer: str, authzid: str = "") -> None:
    """The MX has no AUTH: nothing logs in (the handler's login path is never reached)."""
    return None
