"""The HTTP listener: aiohttp's server (`AppRunner`) on one socket, its bounds,
its background jobs and its clean stop.

Owns: `start_http_listener(...) -> HttpListener`, `HttpSite` (the socket) and
`HttpListener.close()` / `shutdown(grace)`.

Security statement: every input is bounded. At most `max_connections` open
connections, and `max_connections_per_address` from one client address,
counted from accept (TLS handshake included) by `imap_store.store.admission`
(beyond: `503` and close before any byte is read on a clear-text listener;
closed before any handshake with TLS); a TLS handshake within
`tls_handshake_timeout`; request heads, bodies, timeouts and
the requests-per-connection bound as `connection` and `guard` describe. A
refused request is answered and the connection closed; a page failure becomes
`500` and never affects another connection.

Invariants:
- The site is aiohttp's `TCPSite` with two additions it has no setting for:
  admission at accept (a `Doorway` that runs the TLS handshake within its
  deadline, then hands the connection to `Connection`, or answers with
  `Refuse` over a cap) and the connection class. The `ssl.SSLContext` is the
  shared server context, so a SIGHUP certificate reload applies here too. A
  failed handshake is one rate-limited WARNING line and one
  `tls.handshake_failed` audit record; each TLS session (one connection,
  however many requests it carries) is one `tls.session` audit record with
  its protocol, cipher and peer subject, written by the doorway before the
  first request is read (`tls_failures`; R5, R6, R24).
- Every task the listener starts (`run_in_background`) is kept by
  `server.tasks.BackgroundTasks`: logged if it fails, and cancelled and awaited at `shutdown`; the
  connections' own tasks are aiohttp's, ended by `Server.shutdown`.
- `shutdown(grace)`: stop accepting, close idle connections at once, let
  requests in flight finish for `grace / 2` seconds, then cancel them and
  wait at most as long again (aiohttp's `Server.shutdown(timeout)` waits
  `timeout` twice), so the stop takes at most `grace`. Nothing is left
  pending and nothing is logged as an error.

Ref: R5, R6, R24; RFC 9112 9.3 (persistence), 9.6 (tear-down); RFC 9110 15.6.4 (503).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from imap_store.store.admission import Admission, AdmissionLimits, Doorway, Ticket
from imap_store.store.interfaces import AuditSink
from imap_store.store.tls_failures import HandshakeLog
from server.tasks import BackgroundTasks

from .connection import Connection, HttpLimits, Refuse
from .metrics import Metrics

log = logging.getLogger("mss.http")


class HttpSite(web.BaseSite):
    """`TCPSite` plus admission at accept, the TLS handshake deadline and our
    connection class."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, limits: HttpLimits,
                 ssl_context: ssl.SSLContext | None, metrics: Metrics,
                 audit: AuditSink | None = None, sock: socket.socket | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.port, self.limits, self.metrics = host, port, limits, metrics
        self._sock = sock
        self.manager = runner.server
        self.sockets: tuple[socket.socket, ...] = ()
        counts = Admission(AdmissionLimits(  # no login on a connection: one cap per address
            max_connections=limits.max_connections, max_preauth=limits.max_connections,
            max_preauth_per_address=limits.max_connections_per_address,
            max_per_bal=limits.max_connections))
        self.doorway = Doorway(counts, self._connection, Refuse(metrics),
                               ssl_context=ssl_context,
                               handshake_timeout=limits.tls_handshake_timeout,
                               failures=HandshakeLog("http", audit=audit, protocol="http"),
                               audit_sessions=True)

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def connection_count(self) -> int:
        return len(self.manager.connections) if self.manager is not None else 0

    def _connection(self, ticket: Ticket) -> asyncio.Protocol:
        assert self.manager is not None
        return Connection(self.manager, limits=self.limits, metrics=self.metrics,
                          tls=self._ssl_context is not None, ticket=ticket)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            server = await loop.create_server(self.doorway.protocol, sock=self._sock)
        else:
            server = await loop.create_server(self.doorway.protocol, self.host, self.port)
        self._server = server
        self.sockets = tuple(server.sockets)

    def close(self) -> None:
        """Stop accepting connections (those open are left to `shutdown`)."""
        if self._server is not None:
            self._server.close()


class HttpListener:
    """A running aiohttp server on one socket, and the jobs it started."""

    def __init__(self, runner: web.AppRunner, site: HttpSite) -> None:
        self._runner, self._site = runner, site
        self._background = BackgroundTasks()
        self._stopped = False

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return self._site.sockets

    @property
    def connection_count(self) -> int:
        return self._site.connection_count()

    def run_in_background(self, job: Coroutine[Any, Any, None], name: str) -> None:
        """Run a maintenance job; a failure is logged, and it is cancelled at shutdown."""
        self._background.spawn(job, f"http: {name}")

    def close(self) -> None:
        """Stop accepting connections."""
        self._site.close()

    async def shutdown(self, grace: float) -> None:
        """Close idle connections now; requests in flight get at most `grace` s."""
        if self._stopped:
            return
        self._stopped = True
        self.close()
        await self._site.doorway.close()
        await self._background.close()
        server = self._runner.server
        if server is not None:
            server.pre_shutdown()
            await server.shutdown(grace / 2)
        await self._runner.cleanup()


async def start_http_listener(*, host: str, port: int, app: web.Application,
                              limits: HttpLimits, ssl_context: ssl.SSLContext | None,
                              metrics: Metrics, audit: AuditSink | None = None,
                              sock: socket.socket | None = None) -> HttpListener:
    """Bind and serve `app`; `port=0` picks a free port (see `sockets`); with `sock`
    (already listening) serve it instead of binding."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = HttpSite(runner, host, port, limits=limits, ssl_context=ssl_context,
                    metrics=metrics, audit=audit, sock=sock)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    listener = HttpListener(runner, site)
    metrics.count_connections(lambda: listener.connection_count)
    log.info("HTTP listener on %s:%s (TLS: %s)", host, port, ssl_context is not None)
    return listener
