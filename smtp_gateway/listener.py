"""SMTP listeners: submission (587, STARTTLS) and submissions (465, implicit TLS).

Invariants:
- AUTH is never offered or accepted before TLS (aiosmtpd `auth_require_tls`
  on STARTTLS listeners; implicit-TLS listeners are TLS from the first byte).
- MAIL needs a successful AUTH on submission listeners (`530 5.7.0`).
- Message size, line length, command timeout and connection count are bounded.

Ref: RFC 6409 (submission), RFC 8314 (implicit TLS), RFC 3207, RFC 4954 4.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass
from typing import Protocol

from imap_store.store.interfaces import AuditSink, Authenticate

from .gate import PolicyGate
from .handler import GatewayHandler
from .intake import Intake
from .protocol import MssSMTP, SessionRegistry


class SmtpLimits(Protocol):
    @property
    def max_message_size(self) -> int: ...

    @property
    def smtp_command_timeout(self) -> int: ...

    @property
    def smtp_max_connections(self) -> int: ...


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

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        self.server.close()

    async def shutdown(self, grace: float) -> None:
        await self.registry.drain(grace)
        await asyncio.sleep(0)


async def start_smtp_listener(*, name: str, host: str, port: int, implicit_tls: bool,
                              ssl_context: ssl.SSLContext, services: SmtpServices,
                              limits: SmtpLimits, hostname: str) -> SmtpListener:
    registry = SessionRegistry(limits.smtp_max_connections)
    handler = GatewayHandler(gate=services.gate, intake=services.intake, audit=services.audit,
                             authenticate=services.authenticate)
    loop = asyncio.get_running_loop()

    def factory() -> MssSMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS; implicit TLS is TLS from byte one.
            warnings.simplefilter("ignore", UserWarning)
            return MssSMTP(
                handler, registry=registry, listener=name, hostname=hostname,
                ident="mss-server", data_size_limit=limits.max_message_size,
                auth_required=True, auth_require_tls=not implicit_tls, require_starttls=False,
                timeout=limits.smtp_command_timeout, enable_SMTPUTF8=False, decode_data=False,
                tls_context=None if implicit_tls else ssl_context)

    server = await loop.create_server(factory, host=host, port=port,
                                      ssl=ssl_context if implicit_tls else None,
                                      reuse_address=True)
    return SmtpListener(name, server, registry)
