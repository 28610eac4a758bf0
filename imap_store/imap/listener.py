"""IMAP listeners: one asyncio server per configured address.

Owns: `start_imap_listener(...) -> ImapListener`, the accept path (admission,
one `ImapConnection` task per client) and shutdown (`close()` stops
accepting; `shutdown(grace)` abandons TLS handshakes in progress, sends
`* BYE Server shutting down` to every session, waits up to `grace` seconds,
then drops whatever is left; a task cancelled there ends quietly rather than
as a cancelled callback task).

Invariants: every connection is admitted at accept by the listener kind's
`Admission` (shared by the IMAP listeners of one process,
`imap_store.store.admission`): beyond a cap a client of the clear-text
listener gets `* BYE Too many connections` (or `... from your address`) and
is closed, a client of the implicit-TLS listener is closed at once; with
`implicit_tls` (993) the handshake completes within `tls_handshake_timeout`
and the login time before the greeting; otherwise (143) the greeting
advertises STARTTLS and LOGINDISABLED; a failed handshake (implicit or
after STARTTLS) is one rate-limited WARNING line (`tls_failures`); a failing
connection never affects another.

Ref: RFC 3501 7.1.5 (BYE), RFC 8314 (implicit TLS), R5-style
listener table (docs/architecture.md "Listeners").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from contextlib import suppress

from imap_store.imap.render.response import bye
from imap_store.store.admission import Admission, Doorway, Refusal, Ticket
from imap_store.store.tls_failures import HandshakeLog

from .backend import ImapBackend
from .connection import ImapConnection
from .limits import ImapLimits

__all__ = ["ImapLimits", "ImapListener", "imap_admission", "start_imap_listener"]
log = logging.getLogger(__name__)


class ImapListener:
    """A running IMAP server socket and its connections."""

    def __init__(
        self, *, implicit_tls: bool, ssl_context: ssl.SSLContext, backend: ImapBackend,
        limits: ImapLimits, hostname: str, admission: Admission,
    ) -> None:
        self._implicit_tls = implicit_tls
        self._ssl_context, self._backend = ssl_context, backend
        self._limits, self._hostname = limits, hostname
        # Handshakes, implicit (the doorway) or after STARTTLS (the connection): failures
        # logged and audited, established sessions audited by the connection.
        self._tls_failures = HandshakeLog("imaps" if implicit_tls else "imap",
                                          audit=backend.audit, protocol="imap")
        self._doorway = Doorway(admission, self._stream, _refuse,
                                ssl_context=ssl_context if implicit_tls else None,
                                handshake_timeout=limits.tls_handshake_timeout,
                                failures=self._tls_failures)
        self._server: asyncio.Server | None = None
        self._connections: dict[ImapConnection, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The bound sockets (tests read the port from here)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def connection_count(self) -> int:
        """Sessions currently open."""
        return len(self._connections)

    async def _bind(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(self._doorway.protocol, sock=sock)
        else:
            self._server = await loop.create_server(self._doorway.protocol, host, port)

    def _stream(self, ticket: Ticket) -> asyncio.Protocol:
        """The stream protocol of an admitted connection (TLS done when implicit)."""
        return _TicketStream(asyncio.StreamReader(), functools.partial(self._accept, ticket),
                             ticket)

    async def _accept(self, ticket: Ticket, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        connection = ImapConnection(
            reader, writer, backend=self._backend, limits=self._limits,
            ssl_context=self._ssl_context, hostname=self._hostname, tls_active=self._implicit_tls,
            ticket=ticket, tls_failures=self._tls_failures,
        )
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        try:
            await connection.run()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            self._connections.pop(connection, None)

    def close(self) -> None:
        """Stop accepting new connections."""
        if self._server is not None:
            self._server.close()

    async def shutdown(self, grace: float) -> None:
        """BYE to every session, wait up to `grace` s, then drop the rest."""
        self.close()
        self._stopping = True
        await self._doorway.close()
        for connection in list(self._connections):
            connection.request_shutdown()
        tasks = list(self._connections.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for connection, task in list(self._connections.items()):
                if task in pending:
                    connection.abort()
                    task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            with suppress(Exception):
                await self._server.wait_closed()


class _TicketStream(asyncio.StreamReaderProtocol):
    """asyncio's stream protocol that releases the connection's ticket when it is lost."""

    def __init__(self, reader: asyncio.StreamReader,
                 connected: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                     Awaitable[None]],
                 ticket: Ticket) -> None:
        super().__init__(reader, connected)
        self._ticket = ticket

    def connection_lost(self, exc: Exception | None) -> None:
        self._ticket.release()
        super().connection_lost(exc)


REFUSALS = {Refusal.ADDRESS: "Too many connections from your address"}


def _refuse(transport: asyncio.WriteTransport | None, refusal: Refusal) -> None:
    """RFC 3501 7.1.5: BYE, then the admission gate closes the connection."""
    if transport is not None:
        transport.write(bye(REFUSALS.get(refusal, "Too many connections")).render())


def imap_admission(limits: ImapLimits) -> Admission:
    """The counts the IMAP listeners of one process share."""
    return Admission(limits.admission_limits())


async def start_imap_listener(
    *, host: str, port: int, implicit_tls: bool, ssl_context: ssl.SSLContext,
    backend: ImapBackend, limits: ImapLimits, hostname: str, admission: Admission | None = None,
    sock: socket.socket | None = None,
) -> ImapListener:
    """Bind and start serving; `port=0` picks a free port (see `sockets`); with `sock`
    (already listening) serve it instead of binding. Listeners given the same
    `admission` share its counts; without one, the listener counts alone."""
    listener = ImapListener(
        implicit_tls=implicit_tls, ssl_context=ssl_context, backend=backend,
        limits=limits, hostname=hostname,
        admission=admission if admission is not None else imap_admission(limits),
    )
    await listener._bind(host, port, sock)
    log.info("IMAP listener on %s:%s (implicit TLS: %s)", host, port, implicit_tls)
    return listener
