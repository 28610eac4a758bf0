"""The aiosmtpd `SMTP` subclass: typed replies, session ids, limits, shutdown.

aiosmtpd is pinned exactly (pyproject) because this class replaces some of the
reply lines it writes itself (`AIOSMTPD_REPLACEMENTS`), reads its TLS state
and session, and follows its envelope resets (`_create_envelope`).

This is the boundary with aiosmtpd: `client_session()` turns aiosmtpd's
session into our frozen `ClientSession`, and `transaction` holds our own
per-transaction state, dropped whenever aiosmtpd starts a new envelope
(after DATA, on RSET, HELO/EHLO and STARTTLS).

Invariants:
- Every connection gets a random session id, used in audit and trace headers.
- Past `max_connections` a new connection gets `421 4.7.0` and is closed.
- On shutdown, idle sessions get `421 4.3.2`; a DATA commit in flight
  finishes first (the registry waits for it).

Ref: RFC 5321 3.8, 4.5.3.1; docs/architecture.md "Replies".
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope

from imap_store.store.interfaces import Principal

from .replies import AIOSMTPD_REPLACEMENTS, SHUTTING_DOWN, TOO_MANY_CONNECTIONS
from .session import ClientSession, Transaction, peer_ip


class SessionRegistry:
    """Live sessions of one gateway and the commits in flight, for a clean stop."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.sessions: set[MssSMTP] = set()
        self.closing = False
        self.inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin_commit(self) -> None:
        self.inflight += 1
        self._idle.clear()

    def end_commit(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self._idle.set()

    async def drain(self, grace: float) -> None:
        """Stop: wait for commits in flight, then say 421 to every session."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            pass
        for proto in list(self.sessions):
            proto.say_goodbye()


class MssSMTP(SMTP):
    """aiosmtpd's SMTP with our replies, a session id and a connection cap."""

    def __init__(self, handler: object, *, registry: SessionRegistry, listener: str,
                 **kwargs: Any) -> None:
        self.transaction: Transaction | None = None
        super().__init__(handler, **kwargs)
        self.registry = registry
        self.listener = listener
        self.session_id = secrets.token_hex(6)

    def _create_envelope(self) -> Envelope:
        self.transaction = None  # aiosmtpd starts a new envelope: the transaction is over
        return super()._create_envelope()

    def client_session(self) -> ClientSession:
        """The facts of this session now (peer, TLS, AUTH principal, EHLO name)."""
        session = self.session
        auth = session.auth_data if session is not None else None
        return ClientSession(
            session_id=self.session_id, listener=self.listener,
            peer_ip=peer_ip(session.peer if session is not None else None),
            tls=self.tls_active, tls_description=self.tls_description(),
            principal=auth if isinstance(auth, Principal) else None,
            ehlo=(session.host_name or "") if session is not None else "")

    def current_transaction(self) -> Transaction:
        """The transaction opened by the accepted MAIL (aiosmtpd allows RCPT/DATA only then)."""
        if self.transaction is None:
            raise RuntimeError("no mail transaction in progress")
        return self.transaction

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self in self.registry.sessions:  # STARTTLS upgrade of a counted session
            super().connection_made(transport)
            return
        if self.registry.closing or len(self.registry.sessions) >= self.registry.max_connections:
            reply = SHUTTING_DOWN if self.registry.closing else TOO_MANY_CONNECTIONS
            transport.write(reply.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self.registry.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.registry.sessions.discard(self)
        if self.transport is None:
            return
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        raw = status.encode("ascii", "replace") if isinstance(status, str) else bytes(status)
        replacement = AIOSMTPD_REPLACEMENTS.get(raw)
        await super().push(replacement.line().encode() if replacement else raw)

    @property
    def tls_active(self) -> bool:
        return self._tls_protocol is not None or bool(
            self.transport and self.transport.get_extra_info("ssl_object"))

    def tls_description(self) -> str:
        ssl_obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_obj is None:
            return ""
        cipher = ssl_obj.cipher()
        return f"version={ssl_obj.version()} cipher={cipher[0] if cipher else '?'}"

    def say_goodbye(self) -> None:
        """Send 421 and close (shutdown of an idle or waiting session)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SHUTTING_DOWN.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()
