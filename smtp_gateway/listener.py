"""SMTP listeners: submission (587, STARTTLS) and submissions (465, implicit TLS).

Invariants:
- AUTH is never offered or accepted before TLS (aiosmtpd `auth_require_tls`
  on STARTTLS listeners; implicit-TLS listeners are TLS from the first byte).
- MAIL needs a successful AUTH on submission listeners (`530 5.7.0`).
- Message size, line length, command timeout, connection count, RCPT
  commands per transaction and refused RCPTs per session are bounded.
- Connections are admitted at accept (`imap_store.store.admission`, one
  `Admission` shared by the submission listeners of a process): all
  connections (`smtp_max_connections`), those before login
  (`smtp_max_preauth_connections`), those from one client address before
  login (`smtp_max_preauth_per_address`), and logged-in ones per BAL
  (`smtp_max_connections_per_bal`). Over a cap a client gets `421 4.7.0`
  and is closed (on the implicit-TLS listener it is closed at once, before
  any handshake). AUTH must succeed within `smtp_login_timeout` of accept,
  and a command line must end within `smtp_command_line_timeout` of its first
  octet (`deadlines`).
- A failed TLS handshake, implicit or after STARTTLS, is one rate-limited
  WARNING line naming the listener, the client and OpenSSL's reason
  (`imap_store.store.tls_failures`), never an error with a traceback.
- SMTPUTF8 is offered (RFC 6531): command arguments are read as UTF-8, and
  one that is not valid UTF-8 is refused (`command_syntax`).

Ref: RFC 6409 (submission), RFC 8314 (implicit TLS), RFC 3207, RFC 4954 4.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from dataclasses import dataclass
from typing import Protocol

from imap_store.store.admission import Admission, AdmissionLimits, Doorway, Refusal, Ticket
from imap_store.store.interfaces import AuditSink, Authenticate
from imap_store.store.tls_failures import HandshakeLog
from policy.reply import Reply

from .gate import PolicyGate
from .handler import GatewayHandler
from .intake import Intake
from .protocol import MssSMTP
from .rcpt_limits import RcptLimits
from .registry import SessionRegistry
from .replies import TOO_MANY_CONNECTIONS, TOO_MANY_FOR_MAILBOX, TOO_MANY_FROM_ADDRESS

TLS_HANDSHAKE_TIMEOUT = 30.0  # implicit TLS; never beyond the login time left
REFUSALS: dict[Refusal, Reply] = {
    Refusal.TOTAL: TOO_MANY_CONNECTIONS, Refusal.PREAUTH: TOO_MANY_CONNECTIONS,
    Refusal.ADDRESS: TOO_MANY_FROM_ADDRESS, Refusal.BAL: TOO_MANY_FOR_MAILBOX}


class SmtpLimits(Protocol):
    @property
    def max_message_size(self) -> int: ...

    @property
    def smtp_command_timeout(self) -> int: ...

    @property
    def smtp_max_connections(self) -> int: ...

    @property
    def smtp_max_rcpt_commands(self) -> int: ...

    @property
    def smtp_max_refused_rcpts(self) -> int: ...

    @property
    def smtp_max_preauth_connections(self) -> int: ...

    @property
    def smtp_max_preauth_per_address(self) -> int: ...

    @property
    def smtp_max_connections_per_bal(self) -> int: ...

    @property
    def smtp_login_timeout(self) -> int: ...

    @property
    def smtp_command_line_timeout(self) -> int: ...


def smtp_admission(limits: SmtpLimits) -> Admission:
    """The counts the submission listeners of one process share."""
    return Admission(AdmissionLimits(
        max_connections=limits.smtp_max_connections,
        max_preauth=limits.smtp_max_preauth_connections,
        max_preauth_per_address=limits.smtp_max_preauth_per_address,
        max_per_bal=limits.smtp_max_connections_per_bal,
        login_timeout=float(limits.smtp_login_timeout)))


def refuse_connection(transport: asyncio.WriteTransport | None, refusal: Refusal) -> None:
    """RFC 5321 3.8: 421, then the admission gate closes the connection."""
    if transport is not None:
        transport.write(REFUSALS[refusal].line().encode() + b"\r\n")


@dataclass(frozen=True)
class SmtpServices:
    """What the gateway needs from the composition root."""

    gate: PolicyGate
    intake: Intake
    audit: AuditSink
    authenticate: Authenticate


@dataclass
class SmtpListener:
    name: str
    server: asyncio.Server
    registry: SessionRegistry
    doorway: Doorway

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        self.server.close()

    async def shutdown(self, grace: float) -> None:
        await self.doorway.close()
        await self.registry.drain(grace)
        await asyncio.sleep(0)


async def start_smtp_listener(*, name: str, host: str, port: int, implicit_tls: bool,
                              ssl_context: ssl.SSLContext, services: SmtpServices,
                              limits: SmtpLimits, hostname: str,
                              admission: Admission | None = None,
                              sock: socket.socket | None = None) -> SmtpListener:
    """Bind and serve (or serve `sock`, already listening, instead of binding
    `host:port`); listeners given the same `admission` share its counts."""
    registry = SessionRegistry()
    # Implicit TLS (the doorway) and STARTTLS alike: failures logged, sessions audited.
    tls_failures = HandshakeLog(name, audit=services.audit, protocol="smtp")
    rcpt_limits = RcptLimits(max_commands=limits.smtp_max_rcpt_commands,
                             max_refused=limits.smtp_max_refused_rcpts)
    handler = GatewayHandler(gate=services.gate, intake=services.intake, audit=services.audit,
                             authenticate=services.authenticate, authserv_id=hostname)
    loop = asyncio.get_running_loop()

    def factory(ticket: Ticket) -> MssSMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS; implicit TLS is TLS from byte one.
            warnings.simplefilter("ignore", UserWarning)
            return MssSMTP(
                handler, registry=registry, listener=name, audit=services.audit,
                rcpt_limits=rcpt_limits, ticket=ticket, tls_failures=tls_failures,
                line_timeout=float(limits.smtp_command_line_timeout), hostname=hostname,
                ident="mss-server", data_size_limit=limits.max_message_size,
                auth_required=True, auth_require_tls=not implicit_tls, require_starttls=False,
                timeout=limits.smtp_command_timeout, enable_SMTPUTF8=True, decode_data=False,
                tls_context=None if implicit_tls else ssl_context)

    doorway = Doorway(admission if admission is not None else smtp_admission(limits), factory,
                      refuse_connection, ssl_context=ssl_context if implicit_tls else None,
                      handshake_timeout=TLS_HANDSHAKE_TIMEOUT, failures=tls_failures)
    if sock is not None:
        server = await loop.create_server(doorway.protocol, sock=sock)
    else:
        server = await loop.create_server(doorway.protocol, host=host, port=port,
                                          reuse_address=True)
    return SmtpListener(name, server, registry, doorway)
