"""TLS handshakes of a listener: failures logged (rate-limited), both outcomes audited.

Owns: `HandshakeLog` (one per listener) and `failure_reason(exc)`. Every
listener reports its handshakes here: implicit TLS through the admission gate
that runs the handshake (`admission.Doorway`), STARTTLS through the code that
starts it (`smtp_gateway.connection.SmtpConnection`,
`imap_store.imap.connection.ImapConnection.start_tls`). asyncio itself never
reports them (an `ssl.SSLError` is an `OSError`, which its SSL protocol logs
at DEBUG in debug mode only). It lives beside `peer_address` because the
store is the one package the gateway, the IMAP engine and the HTTP listener
may all import; it writes to the database only through its `AuditSink`.

Invariants:
- a failed handshake is one line at WARNING on the `mss.tls` logger: the
  listener, the client's address and OpenSSL's reason (`WRONG_VERSION_NUMBER`,
  `TLSV1_ALERT_UNKNOWN_CA`, ...) or `handshake timed out`; never a
  traceback, never a byte the client sent;
- at most `burst` lines per listener in `interval` seconds; the failures
  past that are counted and told in one line when the interval ends;
- a connection closed or reset by the client during the handshake without a
  TLS error (a TCP health check, a port scan) has no reason to give: DEBUG only;
- with an `audit` sink (every listener of `mss serve`), each failed handshake
  that has a reason is also one `tls.handshake_failed` audit record (listener,
  peer address, OpenSSL's reason: never rate-limited, the audit is complete),
  and each established session one `tls.session` record (listener, protocol,
  cipher, peer certificate subject: `tls_facts`), written before the session
  goes on; an audit write that fails is logged by the sink and never ends
  the session (`record_after_commit`).

Ref: R5, R6, R24; RFC 8446 6 (alerts), RFC 5246 7.2; RFC 8314 (implicit TLS),
RFC 3207, RFC 3501 6.2.1 (STARTTLS).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable

from .interfaces import AuditEvent, AuditSink, peer_address
from .tls_facts import tls_facts

log = logging.getLogger("mss.tls")
BURST = 10
INTERVAL = 60.0
TIMED_OUT = "handshake timed out"


def failure_reason(exc: BaseException) -> str | None:
    """OpenSSL's reason for a failed handshake; None when the client just went away."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return str(exc.verify_message)
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or type(exc).__name__)
    # asyncio's handshake deadline aborts the connection (ConnectionAbortedError on Linux,
    # where a client's reset or EOF is a ConnectionResetError); our own deadlines time out.
    if isinstance(exc, (TimeoutError, ConnectionAbortedError)):
        return TIMED_OUT
    return None


class HandshakeLog:
    """The failed handshakes of one listener, logged at most `burst` per `interval` s."""

    def __init__(self, listener: str, *, burst: int = BURST, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic, audit: AuditSink | None = None,
                 protocol: str = "") -> None:
        self.listener = listener
        self.audit, self.protocol = audit, protocol
        self._burst, self._interval, self._clock = burst, interval, clock
        self._window_end = float("-inf")
        self._logged = 0
        self._suppressed = 0
        self._summary: asyncio.TimerHandle | None = None

    def failed(self, peername: object, exc: BaseException) -> None:
        """One failed handshake from `peername` (a socket's peer name)."""
        peer = peer_address(peername) or "an unknown address"
        reason = failure_reason(exc)
        if reason is None:
            log.debug("TLS handshake on %s from %s: connection closed", self.listener, peer)
            return
        now = self._clock()
        if now >= self._window_end:
            self.flush()
            self._window_end, self._logged = now + self._interval, 0
        if self._logged < self._burst:
            self._logged += 1
            log.warning("TLS handshake failed on %s from %s: %s", self.listener, peer, reason)
            return
        self._suppressed += 1
        self._summary_at(self._window_end - now)

    async def handshake_failed(self, peername: object, exc: BaseException,
                               session: str = "") -> None:
        """A failed handshake: logged as `failed` does, and audited when it has a reason."""
        self.failed(peername, exc)
        reason = failure_reason(exc)
        if self.audit is None or reason is None:
            return
        peer = peer_address(peername)
        await self.audit.record_after_commit(AuditEvent(
            "tls.handshake_failed", protocol=self.protocol, session=session, peer=peer,
            detail={"listener": self.listener, "peer": peer, "reason": reason}))

    async def established(self, peername: object, tls: ssl.SSLObject | None,
                          session: str = "") -> None:
        """A TLS session is up: its protocol, cipher and peer subject audited (R5, R6)."""
        facts = tls_facts(tls)
        if self.audit is None or not facts:
            return
        await self.audit.record_after_commit(AuditEvent(
            "tls.session", protocol=self.protocol, session=session,
            peer=peer_address(peername), detail={"listener": self.listener, **facts}))

    def flush(self) -> None:
        """Tell how many failures were not logged since the last line (if any)."""
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        if self._suppressed:
            log.warning("TLS handshake failed on %s: %d more failures not logged in %g s",
                        self.listener, self._suppressed, self._interval)
            self._suppressed = 0

    def _summary_at(self, delay: float) -> None:
        if self._summary is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a direct call): told with the next failure
            return
        self._summary = loop.call_later(max(delay, 0.0), self.flush)
