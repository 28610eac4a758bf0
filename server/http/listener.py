"""The HTTP listener: asyncio sockets, bounded connections, one request at a time.

Owns: `start_http_listener(...) -> HttpListener`, the per-connection loop
(read a head, read the body, call the handler, write the response, maybe keep
the connection) and shutdown.

Security statement: every input is bounded. At most `max_connections` open
connections (beyond: `503` and close); a request head of at most
`max_header_bytes` (else `431`) and `max_headers` fields; a body of at most
`max_body` bytes read by `Content-Length` only; a connection that sends
nothing for `request_timeout` (first request) or `idle_timeout` (keep-alive)
is closed silently; a head or body must then arrive within `request_timeout`
(else `408`); a TLS handshake within 10 s; at most
`max_requests` requests per connection. A refused request is answered and the
connection closed; a handler failure becomes `500` (logged with its
traceback) and never affects another connection.

Ref: RFC 9112 9.3 (persistence), 9.6 (tear-down); RFC 9110 15.5.14, 15.5.20;
RFC 6585 6 (431).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from .metrics import Metrics
from .wire import HttpError, Request, Response, WireLimits, parse_head, text_response

log = logging.getLogger("mss.http")
_ids = itertools.count(1)


@dataclass(frozen=True)
class HttpLimits:
    wire: WireLimits = field(default_factory=WireLimits)
    max_connections: int = 100
    request_timeout: float = 15.0
    idle_timeout: float = 30.0
    max_requests: int = 100
    tls_handshake_timeout: float = 10.0


@dataclass(frozen=True)
class Peer:
    """The client of one connection: address, whether TLS protects it, connection id."""

    ip: str
    tls: bool
    connection: int


Handler = Callable[[Request, Peer], Awaitable[Response]]


class HttpListener:
    """A running HTTP server socket and its connections."""

    def __init__(self, handler: Handler, limits: HttpLimits, ssl_context: ssl.SSLContext | None,
                 metrics: Metrics) -> None:
        self._handler, self._limits = handler, limits
        self._ssl, self._metrics = ssl_context, metrics
        self._server: asyncio.Server | None = None
        self._tasks: dict[asyncio.Task[None], bool] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def connection_count(self) -> int:
        return len(self._tasks)

    async def _bind(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._accept, host, port, ssl=self._ssl, limit=self._limits.wire.max_header_bytes,
            ssl_handshake_timeout=self._limits.tls_handshake_timeout if self._ssl else None)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self._limits.max_connections:
            self._metrics.count("http_connections_refused_total")
            await _send(writer, text_response(503, "too many connections"), False, False)
            await _close(writer)
            return
        self._tasks[task] = False
        peer = Peer(_peer_ip(writer), self._ssl is not None, next(_ids))
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        finally:
            self._tasks.pop(task, None)
            await _close(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     peer: Peer) -> None:
        for number in range(self._limits.max_requests):
            wait = self._limits.request_timeout if number == 0 else self._limits.idle_timeout
            self._mark_idle(True)
            try:
                request = await self._read(reader, wait)
            except HttpError as exc:
                self._metrics.count("http_requests_total", status=str(exc.status))
                await _send(writer, text_response(exc.status, str(exc)), False, peer.tls)
                return
            if request is None:
                return
            self._mark_idle(False)
            response = await self._respond(request, peer)
            keep = request.keep_alive and number + 1 < self._limits.max_requests
            await _send(writer, response, keep, peer.tls, head_only=request.method == "HEAD")
            if not keep:
                return

    def _mark_idle(self, idle: bool) -> None:
        task = asyncio.current_task()
        if task in self._tasks:
            self._tasks[task] = idle

    async def _read(self, reader: asyncio.StreamReader, wait: float) -> Request | None:
        """The next request; None when the client leaves or stays idle for `wait` s."""
        try:
            async with asyncio.timeout(wait):
                first = await reader.readexactly(1)
        except (TimeoutError, asyncio.IncompleteReadError):
            return None
        try:
            async with asyncio.timeout(self._limits.request_timeout):
                head = first + await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise HttpError(400, "incomplete request") from None
        except asyncio.LimitOverrunError:
            raise HttpError(431, "request head too large") from None
        except TimeoutError:
            raise HttpError(408, "request timeout") from None
        request = parse_head(head[:-4], self._limits.wire)
        if request.content_length:
            request = await self._read_body(reader, request)
        return request

    async def _read_body(self, reader: asyncio.StreamReader, request: Request) -> Request:
        try:
            async with asyncio.timeout(self._limits.request_timeout):
                body = await reader.readexactly(request.content_length)
        except TimeoutError:
            raise HttpError(408, "request timeout") from None
        return Request(request.method, request.target, request.version, request.headers, body)

    async def _respond(self, request: Request, peer: Peer) -> Response:
        try:
            response = await self._handler(request, peer)
        except HttpError as exc:
            response = text_response(exc.status, str(exc))
        except Exception:
            log.exception("http: handler failed for %s %s", request.method, request.path[:200])
            response = text_response(500)
        self._metrics.count("http_requests_total", status=str(response.status))
        return response

    def run_in_background(self, job: Coroutine[Any, Any, None]) -> None:
        """Run a maintenance coroutine; cancelled at shutdown if still running."""
        task = asyncio.get_running_loop().create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def close(self) -> None:
        """Stop accepting connections."""
        if self._server is not None:
            self._server.close()

    async def shutdown(self, grace: float) -> None:
        """Close idle connections now, let requests in flight finish for `grace` s."""
        self.close()
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for task, idle in list(self._tasks.items()):
            if idle:
                self._tasks.pop(task, None)
                task.cancel()
        busy = list(self._tasks)
        if busy:
            _done, pending = await asyncio.wait(busy, timeout=grace)
            for task in pending:
                self._tasks.pop(task, None)
                task.cancel()
        if self._server is not None:
            with suppress(Exception):
                await self._server.wait_closed()


def _peer_ip(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


async def _send(writer: asyncio.StreamWriter, response: Response, keep: bool, tls: bool,
                *, head_only: bool = False) -> None:
    writer.write(response.render(keep_alive=keep, head_only=head_only, tls=tls))
    async with asyncio.timeout(30):
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with suppress(Exception):
        async with asyncio.timeout(5):
            await writer.wait_closed()


async def start_http_listener(*, host: str, port: int, handler: Handler, limits: HttpLimits,
                              ssl_context: ssl.SSLContext | None,
                              metrics: Metrics) -> HttpListener:
    """Bind and serve; `port=0` picks a free port (see `sockets`)."""
    listener = HttpListener(handler, limits, ssl_context, metrics)
    await listener._bind(host, port)
    log.info("HTTP listener on %s:%s (TLS: %s)", host, port, ssl_context is not None)
    return listener
