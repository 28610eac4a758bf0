"""IMAP listeners: one asyncio server per configured address.

Owns: `start_imap_listener(...) -> ImapListener`, the accept path (connection
limit, one `ImapConnection` task per client) and shutdown (`close()` stops
accepting; `shutdown(grace)` sends `* BYE Server shutting down` to every
session, waits up to `grace` seconds, then drops whatever is left; a task
cancelled there ends quietly rather than as a cancelled callback task).

Invariants: with `implicit_tls` (993) the handshake completes before the
greeting; otherwise (143) the greeting advertises STARTTLS and LOGINDISABLED;
beyond `max_connections` a client gets `* BYE Too many connections` and is
closed; a failing connection never affects another.

Ref: RFC 3501 7.1.5 (BYE), RFC 8314 (implicit TLS), R5-style
listener table (docs/architecture.md "Listeners").
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from contextlib import suppress

from imap_store.imap.render.response import bye

from .backend import ImapBackend
from .connection import ImapConnection
from .limits import ImapLimits

__all__ = ["ImapLimits", "ImapListener", "start_imap_listener"]
log = logging.getLogger(__name__)


class ImapListener:
    """A running IMAP server socket and its connections."""

    def __init__(
        self, *, implicit_tls: bool, ssl_context: ssl.SSLContext, backend: ImapBackend,
        limits: ImapLimits, hostname: str,
    ) -> None:
        self._implicit_tls = implicit_tls
        self._ssl_context, self._backend = ssl_context, backend
        self._limits, self._hostname = limits, hostname
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

    async def _bind(self, host: str, port: int) -> None:
        tls = self._implicit_tls
        self._server = await asyncio.start_server(
            self._accept, host, port,
            ssl=self._ssl_context if tls else None,
            ssl_handshake_timeout=self._limits.tls_handshake_timeout if tls else None,
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self._limits.max_connections:
            await _refuse(writer)
            return
        connection = ImapConnection(
            reader, writer, backend=self._backend, limits=self._limits,
            ssl_context=self._ssl_context, hostname=self._hostname, tls_active=self._implicit_tls,
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


async def _refuse(writer: asyncio.StreamWriter) -> None:
    writer.write(bye("Too many connections").render())
    with suppress(Exception):
        await writer.drain()
    writer.close()
    with suppress(Exception):
        await writer.wait_closed()


async def start_imap_listener(
    *, host: str, port: int, implicit_tls: bool, ssl_context: ssl.SSLContext,
    backend: ImapBackend, limits: ImapLimits, hostname: str,
) -> ImapListener:
    """Bind and start serving; `port=0` picks a free port (see `sockets`)."""
    listener = ImapListener(
        implicit_tls=implicit_tls, ssl_context=ssl_context, backend=backend,
        limits=limits, hostname=hostname,
    )
    await listener._bind(host, port)
    log.info("IMAP listener on %s:%s (implicit TLS: %s)", host, port, implicit_tls)
    return listener
