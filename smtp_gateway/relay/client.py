"""One relay attempt: one message to one peer host, over verified STARTTLS only.

Owns: `send` (connect, STARTTLS, check the peer, MAIL/RCPT/DATA) and its
results (`Attempt`, `Deferred`, `Refused`).

Invariants (R4, R7):
- nothing of the transaction is sent before TLS: a peer that does not offer
  STARTTLS, a handshake that fails (unknown CA, expired or revoked
  certificate, wrong host name: the relay context verifies them all) or a
  peer certificate whose subject DN the trust list does not name for the
  destination domain ends the attempt with `Deferred`, before MAIL; there
  is no fallback to clear text or to an unverified peer;
- our operator certificate is presented as the client certificate (it is in
  the relay context);
- a `5xx` to MAIL or DATA refuses every recipient (`Refused`); a `5xx` to
  RCPT refuses that recipient only; `4xx` anywhere, a lost connection or a
  timeout defers (the recipients wait for the next attempt);
- the `Return-Path:` field intake put on top is removed: it belongs to the
  final delivery (RFC 5321 4.4); every other byte is sent as stored.

Ref: R4, R5, R6, R7; RFC 3207, RFC 5321 3.3, 4.2.5, 4.4, 4.5.4.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import aiosmtplib
from aiosmtplib.errors import SMTPException, SMTPResponseException

from policy.trust_list import TrustList

from ..tls_session import describe, peer_dn
from .routing import Route


class TrustSource(Protocol):
    @property
    def current(self) -> TrustList | None: ...


class Deferred(Exception):
    """The attempt failed this time; every recipient waits (the reason is internal)."""


class Refused(Exception):
    """The peer refused the message for every recipient with a 5xx reply."""


@dataclass
class Attempt:
    """What became of each recipient in one transaction with the peer."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    tls: dict[str, str] = field(default_factory=dict)


def without_return_path(message: bytes) -> bytes:
    if message[:12].lower() == b"return-path:":
        end = message.find(b"\r\n")
        return message[end + 2:] if end >= 0 else message
    return message


def _reply(exc: SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}"[:300]


async def _secure(smtp: aiosmtplib.SMTP, route: Route, context: ssl.SSLContext,
                  domain: str, trust: TrustSource) -> dict[str, str]:
    """STARTTLS and the peer's DN checked against the trust list; Deferred otherwise."""
    await smtp.ehlo()
    if not smtp.supports_extension("starttls"):
        raise Deferred(f"{route} does not offer STARTTLS")
    try:
        await smtp.starttls(server_hostname=route.host, tls_context=context)
    except (SMTPException, ssl.SSLError, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ssl.SSLError) else exc
        reason = (cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError)
                  else str(cause))
        raise Deferred(f"TLS with {route} failed: {reason}") from None
    tls = smtp.transport.get_extra_info("ssl_object") if smtp.transport else None
    dn = peer_dn(tls)
    if tls is None or dn is None:
        raise Deferred(f"{route}: no verified TLS session")
    listed = trust.current
    if listed is None:
        raise Deferred("no trust list loaded")
    if not listed.dn_listed_for(domain, dn):
        raise Deferred(f"{route}: certificate {describe(tls)['peer_subject']} is not listed "
                       f"for {domain} in trust list {listed.version}")
    await smtp.ehlo()
    return describe(tls)


async def _transaction(smtp: aiosmtplib.SMTP, mail_from: str, recipients: tuple[str, ...],
                       message: bytes, attempt: Attempt, on_data: Callable[[], None]) -> None:
    options = ["BODY=8BITMIME"] if (smtp.supports_extension("8bitmime")
                                    and any(b > 127 for b in message)) else []
    try:
        await smtp.mail(mail_from, options=options)
    except SMTPResponseException as exc:
        if exc.code >= 500:
            raise Refused(_reply(exc)) from None
        raise Deferred(_reply(exc)) from None
    for rcpt in recipients:
        try:
            await smtp.rcpt(rcpt)
            attempt.accepted.append(rcpt)
        except SMTPResponseException as exc:
            (attempt.refused if exc.code >= 500 else attempt.deferred)[rcpt] = _reply(exc)
    if not attempt.accepted:
        return
    on_data()
    try:
        await smtp.data(message)
    except SMTPResponseException as exc:
        if exc.code >= 500:
            raise Refused(_reply(exc)) from None
        raise Deferred(_reply(exc)) from None


async def send(route: Route, *, context: ssl.SSLContext, ehlo_name: str, domain: str,
               trust: TrustSource, mail_from: str, recipients: tuple[str, ...],
               message: bytes, timeout: float,
               on_data: Callable[[], None] = lambda: None) -> Attempt:
    """One transaction with `route`; raises Deferred or Refused for the whole message.
    `on_data` is called just before the message itself is sent."""
    smtp = aiosmtplib.SMTP(hostname=route.host, port=route.port, local_hostname=ehlo_name,
                           timeout=timeout, use_tls=False, start_tls=False,
                           tls_context=context)
    attempt = Attempt()
    try:
        await smtp.connect()
    except (SMTPException, OSError) as exc:
        raise Deferred(f"cannot connect to {route}: {exc}") from None
    try:
        attempt.tls = await _secure(smtp, route, context, domain, trust)
        await _transaction(smtp, mail_from, recipients, without_return_path(message), attempt,
                           on_data)
    except (SMTPException, OSError) as exc:
        raise Deferred(f"{route}: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            if smtp.is_connected:
                await smtp.quit()
        except (SMTPException, OSError):
            smtp.close()
    return attempt
