"""One SMTP connection as aiosmtpd runs it: its session, admission, deadlines, TLS and end.

Owns: `SmtpConnection`, the aiosmtpd `SMTP` subclass that `protocol.MssSMTP`
(the commands) builds on: a session id, the admission ticket, the two
deadlines, the TLS session (STARTTLS and implicit TLS), the facts of the
session as our frozen `ClientSession` (`client_session()`: the boundary with
aiosmtpd's session) and the connection's end (on a deadline, a stop, a
cancelled DATA).

Invariants:
- Every connection gets a random session id, used in audit and trace headers.
- Connections are admitted at accept by the listener's `Admission`
  (`imap_store.store.admission`, see `listener`); each connection holds its
  ticket, moves it to its BAL's logged-in count at AUTH (`admit_login`: a
  BAL at its cap gets `421 4.7.0` and the connection is closed) and
  releases it when the connection is lost.
- Two deadlines no traffic extends (`deadlines`): AUTH must succeed within
  the login time from accept, and a command line must end within the line
  time of its first octet; either answers `421 4.7.0` and closes.
- On shutdown, a new connection and every idle session get `421 4.3.2`
  (`registry.SessionRegistry` drains them; a DATA in flight is answered
  first, `protocol`).
- A failed STARTTLS handshake ends the session as aiosmtpd ends it, told to
  the listener's `HandshakeLog` as one rate-limited WARNING line and one
  `tls.handshake_failed` audit record (peer, OpenSSL's reason), never as a
  session error.
- Every TLS session, STARTTLS or implicit (port 465), is audited once it is
  up, before anything else is read: `tls.session` with protocol, cipher and
  peer certificate subject (`HandshakeLog.established`; R5, R6, R24).

Ref: R5, R6, R24; RFC 3207 (STARTTLS); RFC 8314 (implicit TLS); RFC 5321 3.8
(421 and close).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, TLSSetupException, syntax

from imap_store.store.admission import Ticket
from imap_store.store.interfaces import Principal, peer_address
from imap_store.store.tls_failures import HandshakeLog
from policy.replies import LOCAL_ERROR
from policy.reply import Reply

from .deadlines import SessionDeadlines
from .registry import SessionRegistry
from .replies import SHUTTING_DOWN
from .session import ClientSession
from .tls_session import tls_description

log = logging.getLogger("mss.smtp")


class SmtpConnection(SMTP):
    """aiosmtpd's SMTP with a session id, its admission ticket, deadlines and TLS audit."""

    def __init__(self, handler: object, *, registry: SessionRegistry, listener: str,
                 ticket: Ticket, line_timeout: float, tls_failures: HandshakeLog,
                 **kwargs: Any) -> None:
        self._client: tuple[object, object, str | None, bool, ClientSession] | None = None
        super().__init__(handler, **kwargs)
        self.tls_failures = tls_failures
        self.ticket = ticket
        self.deadlines = SessionDeadlines(login_deadline=ticket.login_deadline,
                                          line_timeout=line_timeout, expire=self.close_with)
        self.registry = registry
        self.listener = listener
        self.session_id = secrets.token_hex(6)

    def client_session(self) -> ClientSession:
        """The facts of this session now (peer, TLS, AUTH principal, EHLO name): the same
        object as long as aiosmtpd's session, its login, its EHLO name and TLS are."""
        session = self.session
        auth = session.auth_data if session is not None else None
        host = session.host_name if session is not None else None
        tls = self.tls_active
        kept = self._client
        if (kept is not None and kept[0] is session and kept[1] is auth and kept[2] == host
                and kept[3] == tls):
            return kept[4]
        client = ClientSession(
            session_id=self.session_id, listener=self.listener,
            peer_ip=peer_address(session.peer if session is not None else None),
            tls=tls, tls_description=self.tls_description(),
            principal=auth if isinstance(auth, Principal) else None,
            ehlo=(host or "") if session is not None else "")
        self._client = (session, auth, host, tls, client)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self in self.registry.sessions:  # STARTTLS upgrade of a counted session
            self.deadlines.restart_lines()
            super().connection_made(transport)
            return
        if self.registry.closing:
            transport.write(SHUTTING_DOWN.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self.registry.sessions.add(self)
        self.deadlines.start()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.registry.sessions.discard(self)
        self.deadlines.cancel()
        self.ticket.release()
        if self.transport is None:
            return
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        self.deadlines.feed(data)
        super().data_received(data)

    def admit_login(self, principal: Principal) -> bool:
        """AUTH succeeded: count the connection on its BAL; False when the BAL is at its cap."""
        if self.ticket.log_in(principal.bal_id) is not None:
            return False
        self.deadlines.logged_in()
        return True

    def close_with(self, reply: Reply) -> None:
        """Answer `reply` and close (RFC 5321 3.8: 421 and close); the session ends."""
        if self.transport is not None and not self.transport.is_closing():
            log.info("closing session %s: %s", self.session_id, reply.text)
            self.transport.write(reply.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()

    async def handle_exception(self, error: Exception) -> str:
        """A failed STARTTLS handshake is told to the listener's `HandshakeLog` (aiosmtpd
        then closes the connection; nothing is sent); anything else goes to the handler."""
        if isinstance(error, TLSSetupException):
            peer = self.session.peer if self.session is not None else None
            await self.tls_failures.handshake_failed(peer, error.__cause__ or error,
                                                     self.session_id)
            return LOCAL_ERROR.line()
        status: str = await super().handle_exception(error)
        return status

    @property
    def tls_active(self) -> bool:
        return self._tls_protocol is not None or bool(
            self.transport and self.transport.get_extra_info("ssl_object"))

    def _ssl_object(self) -> ssl.SSLObject | None:
        obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        return obj if isinstance(obj, ssl.SSLObject) else None

    def tls_description(self) -> str:
        return tls_description(self._ssl_object())

    async def _tls_established(self) -> None:
        """Audit the TLS session now up (`tls.session`, R5, R6, R24)."""
        peer = self.session.peer if self.session is not None else None
        await self.tls_failures.established(peer, self._ssl_object(), self.session_id)

    async def _handle_client(self) -> None:
        """aiosmtpd's session, after the audit of an implicit-TLS session (port 465)."""
        if self._ssl_object() is not None:
            await self._tls_established()
        await super()._handle_client()

    @syntax("STARTTLS")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """aiosmtpd's STARTTLS (a failed handshake raises: `handle_exception`), then the
        session audited."""
        await super().smtp_STARTTLS(arg)
        if self._ssl_object() is not None:
            await self._tls_established()

    def abandon(self) -> asyncio.Task[None] | None:
        """Cancel this session's task (a stop past its grace period); returns it."""
        task: asyncio.Task[None] | None = self._handler_coroutine
        if task is not None:
            task.cancel()
        return task

    def say_goodbye(self) -> None:
        """Send 421 and close (shutdown of an idle or waiting session)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SHUTTING_DOWN.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()
