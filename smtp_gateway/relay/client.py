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
  final delivery (RFC 5321 4.4); every other byte is sent as stored: a
  message is never re-encoded (it would break signatures and byte-identity);
- a message with 8-bit octets goes with `BODY=8BITMIME` (RFC 6152), one with
  a UTF-8 envelope address or header with `SMTPUTF8` (RFC 6531 3.4); a peer
  that does not advertise the extension the message needs gets nothing and
  the recipients fail (`Unsupported`: 5.6.3, 5.6.7), before MAIL;
- the DSN parameters (RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, as
  the sender wrote them) are passed on to a peer that advertises DSN, and
  only to it (RFC 3461 5.2); `Attempt.peer_dsn` tells which it was.

Ref: R4, R5, R6, R7, R22; RFC 3207, RFC 5321 3.3, 4.2.5, 4.4, 4.5.4; RFC 3461 5.2;
RFC 6152; RFC 6531 3.4, 3.7.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import aiosmtplib
from aiosmtplib.errors import SMTPException, SMTPResponseException

from imap_store.store.tls_facts import tls_facts
from policy.trust_list import TrustList

from ..tls_session import peer_dn
from .routing import Route


class TrustSource(Protocol):
    @property
    def current(self) -> TrustList | None: ...


class Deferred(Exception):
    """The attempt failed this time; every recipient waits (the reason is internal)."""


class Refused(Exception):
    """The peer refused the message for every recipient with a 5xx reply."""

    remote: str = ""


class Unsupported(Refused):
    """The peer lacks an extension the message needs (8BITMIME, SMTPUTF8), or DNS
    says the domain takes no mail (`routing.Unroutable`): every recipient fails
    with `status`; the text is ours, not a reply of the peer."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Envelope:
    """What MAIL and RCPT say: the sender, the recipients, the DSN parameters to pass on."""

    mail_from: str
    recipients: tuple[str, ...]
    mail_dsn: tuple[str, ...] = ()
    """`RET=...`, `ENVID=...` as the sender wrote them."""
    rcpt_dsn: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per recipient: `NOTIFY=...`, `ORCPT=...`."""


@dataclass
class Attempt:
    """What became of each recipient in one transaction with the peer."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    tls: dict[str, str] = field(default_factory=dict)
    remote: str = ""
    peer_dsn: bool = False
    """The peer advertised DSN and was given the parameters (it reports itself)."""


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
        raise Deferred(f"{route}: certificate {tls_facts(tls)['peer_subject']} is not listed "
                       f"for {domain} in trust list {listed.version}")
    await smtp.ehlo()
    return tls_facts(tls)


def _needs_utf8(envelope: Envelope, message: bytes) -> bool:
    """RFC 6531 3.4: a UTF-8 address in the envelope or UTF-8 in the header section."""
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end]
    return (not envelope.mail_from.isascii() or not all(r.isascii() for r in envelope.recipients)
            or not head.isascii())


def _mail_options(smtp: aiosmtplib.SMTP, envelope: Envelope, message: bytes,
                  attempt: Attempt) -> tuple[list[str], str]:
    """MAIL's parameters and the address encoding; `Unsupported` when the peer cannot
    take the message as it is."""
    options: list[str] = []
    encoding = "ascii"
    if not message.isascii():
        if not smtp.supports_extension("8bitmime"):
            raise Unsupported("5.6.3", "the receiving server does not accept 8-bit "
                                       "messages (no 8BITMIME); the message was not converted")
        options.append("BODY=8BITMIME")
    if _needs_utf8(envelope, message):
        if not smtp.supports_extension("smtputf8"):
            raise Unsupported("5.6.7", "the receiving server does not accept UTF-8 "
                                       "addresses or headers (no SMTPUTF8)")
        options.append("SMTPUTF8")
        encoding = "utf-8"
    attempt.peer_dsn = smtp.supports_extension("dsn")
    if attempt.peer_dsn:
        options += envelope.mail_dsn
    return options, encoding


async def _transaction(smtp: aiosmtplib.SMTP, envelope: Envelope, message: bytes,
                       attempt: Attempt, on_data: Callable[[], None]) -> None:
    options, encoding = _mail_options(smtp, envelope, message, attempt)
    try:
        await smtp.mail(envelope.mail_from, options=options, encoding=encoding)
    except SMTPResponseException as exc:
        if exc.code >= 500:
            raise Refused(_reply(exc)) from None
        raise Deferred(_reply(exc)) from None
    for rcpt in envelope.recipients:
        rcpt_options = list(envelope.rcpt_dsn.get(rcpt, ())) if attempt.peer_dsn else []
        try:
            await smtp.rcpt(rcpt, options=rcpt_options, encoding=encoding)
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
               trust: TrustSource, envelope: Envelope, message: bytes, timeout: float,
               on_data: Callable[[], None] = lambda: None) -> Attempt:
    """One transaction with `route`; raises Deferred or Refused for the whole message.
    `on_data` is called just before the message itself is sent."""
    smtp = aiosmtplib.SMTP(hostname=route.host, port=route.port, local_hostname=ehlo_name,
                           timeout=timeout, use_tls=False, start_tls=False,
                           tls_context=context)
    attempt = Attempt(remote=route.host)
    try:
        await smtp.connect()
    except (SMTPException, OSError) as exc:
        raise Deferred(f"cannot connect to {route}: {exc}") from None
    try:
        attempt.tls = await _secure(smtp, route, context, domain, trust)
        await _transaction(smtp, envelope, without_return_path(message), attempt, on_data)
    except Refused as exc:
        exc.remote = route.host
        raise
    except (SMTPException, OSError) as exc:
        raise Deferred(f"{route}: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            if smtp.is_connected:
                await smtp.quit()
        except (SMTPException, OSError):
            smtp.close()
    return attempt
