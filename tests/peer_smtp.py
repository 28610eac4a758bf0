"""A minimal peer MX for exchange tests: aiosmtpd with STARTTLS required, a certificate
from the test CA whose DN the trust list names for the peer's domain (so the relay's
verification passes), and some ESMTP extensions withheld from its EHLO (DSN,
SMTPUTF8, 8BITMIME) to test what the relay does without them.

It records each transaction (envelope, parameters, bytes) and answers 250.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.exchange_support import Pki


@dataclass
class Received:
    mail_from: str
    mail_options: list[str]
    rcpt_tos: list[str]
    rcpt_options: list[list[str]]
    content: bytes


@dataclass
class _Handler:
    without: tuple[str, ...]
    received: list[Received] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [r for r in responses if r[4:].split(" ")[0].upper() not in self.without]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        self.mails.append(address)
        envelope.mail_from = address
        envelope.mail_options = list(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(list(options))  # type: ignore[arg-type]
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(Received(
            envelope.mail_from or "", list(envelope.mail_options), list(envelope.rcpt_tos),
            [list(o) for o in envelope.rcpt_options], bytes(envelope.original_content or b"")))
        return "250 OK"


@dataclass
class PeerMx:
    controller: Controller
    handler: _Handler

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def mails(self) -> list[str]:
        return self.handler.mails

    def stop(self) -> None:
        self.controller.stop()


async def start_test_peer(pki: Pki, port: int, domain: str,
                          without: tuple[str, ...] = ()) -> PeerMx:
    """The peer of `domain` on 127.0.0.1:`port`, its EHLO without `without`."""
    cert, key, _ = pki.issue(f"peer-{domain}", f"mss-server {domain}")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    handler = _Handler(tuple(w.upper() for w in without))
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, decode_data=False,
                            enable_SMTPUTF8="SMTPUTF8" not in handler.without)
    await asyncio.to_thread(controller.start)
    return PeerMx(controller, handler)
