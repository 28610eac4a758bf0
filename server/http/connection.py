"""One HTTP connection: aiohttp's `RequestHandler` plus the bounds aiohttp has no
setting for, and the refusal of connections over the cap.

Owns: `HttpLimits`, `Connection` (a small subclass of aiohttp's request
handler, holding its admission ticket until the connection is lost), `Refuse`
(the answer `503` to a connection refused at accept, over `max_connections`
or `max_connections_per_address`) and `parse_refusal` (which status a
malformed request gets).

Invariants:
- aiohttp's parser (llhttp) reads the heads, bounded by `max_header_bytes` per
  line and `max_headers` fields; what it refuses is answered here with a fixed
  text (431 for a head too large or too many fields, 505 for an HTTP version
  it does not speak, else 400), logged at DEBUG by exception class only (the
  exception text quotes the request), and the connection is closed.
- The first head must be complete within `request_timeout` of the
  connection opening, a later one within `request_timeout` of its first
  byte, else `408` and close; a connection that sends nothing within
  `request_timeout` of opening is closed without an answer; aiohttp's own
  keep-alive timer (`idle_timeout`) closes connections idle between requests.
- After an answer that closes the connection while a body is unread (413,
  501, 408), aiohttp reads and discards it for at most `LINGER_SECONDS` so
  the client gets the answer rather than a reset, then closes.
- The head timer is a loop timer cancelled on every path: request start,
  expiry, connection loss. No task is started here.

Ref: RFC 9112 2.2, 3, 9.3, 9.6; RFC 9110 15.5.9 (408), 15.6.6 (505);
RFC 6585 5 (431); R8.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from imap_store.store.admission import Refusal, Ticket

from .metrics import Metrics
from .replies import harden, raw_reply, text_response

log = logging.getLogger("mss.http")
_numbers = itertools.count(1)
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HttpLimits:
    """The listener's bounds: the `[http]` keys (defaults in `server.config`), then two
    that are not configurable."""

    max_header_bytes: int
    max_headers: int
    max_body: int
    max_connections: int
    max_connections_per_address: int
    request_timeout: float
    idle_timeout: float
    max_requests: int = 100
    tls_handshake_timeout: float = 10.0


def parse_refusal(exc: BaseException | None) -> tuple[int, str]:
    """The status and text for a request aiohttp's parser refused."""
    if isinstance(exc, LineTooLong):
        return 431, "request head too large"
    if not isinstance(exc, HttpProcessingError):
        return 500, "internal server error"
    message = exc.message.lower()
    if "too many headers" in message:
        return 431, "too many header fields"
    if isinstance(exc, BadStatusLine) and "http version" in message:
        return 505, "HTTP version not supported"
    return 400, "malformed request"


class Connection(RequestHandler):
    """aiohttp's per-connection protocol with a head deadline and our refusals."""

    def __init__(self, manager: web.Server, *, limits: HttpLimits, metrics: Metrics,
                 tls: bool, ticket: Ticket) -> None:
        super().__init__(manager, loop=asyncio.get_running_loop(),
                         keepalive_timeout=limits.idle_timeout,
                         access_log=None,  # type: ignore[arg-type]  # None turns it off
                         max_line_size=limits.max_header_bytes,
                         max_field_size=limits.max_header_bytes,
                         max_headers=limits.max_headers, lingering_time=LINGER_SECONDS)
        self.number, self.tls, self.requests, self.busy = next(_numbers), tls, 0, False
        self._limits, self._metrics, self._ticket = limits, metrics, ticket
        self._deadline: asyncio.TimerHandle | None = None
        self._heard = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.keep_alive(True)  # drops aiohttp's idle timer: the first head has our deadline
        self._arm()

    def data_received(self, data: bytes) -> None:
        if data and not self.busy:
            self._heard = True
            if self._deadline is None:
                self._arm()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        self._ticket.release()
        super().connection_lost(exc)

    def request_started(self) -> None:
        self._disarm()
        self._heard, self.busy = False, True
        self.requests += 1

    def request_finished(self) -> None:
        self.busy = False

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._limits.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.busy or self.transport is None:
            return
        if self._heard:
            self.refuse(408, "request timeout")
        self.force_close()

    def refuse(self, status: int, text: str) -> None:
        """Answer `status` with an HTTP/1.1 status line and close, bypassing aiohttp's
        response (which would echo the request's version)."""
        if self.transport is not None:
            self._metrics.answered(status)
            self.transport.write(raw_reply(status, text, tls=self.tls))
        self.force_close()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """A request aiohttp could not parse or dispatch: answered and closed."""
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already started")
        code, text = parse_refusal(exc)
        if code == 500:
            log.error("http: request failed", exc_info=exc)
        else:
            log.debug("http: refused a malformed request (%s)", type(exc).__name__)
        self._metrics.answered(code)
        response = text_response(code, text, headers={"Connection": "close"})
        response.force_close()
        harden(response, self.tls)
        return response


class Refuse:
    """A connection refused at accept (`imap_store.store.admission`): counted, and
    answered 503 on a clear-text listener (the admission gate then closes it; on a
    TLS listener it is closed before any handshake, so nothing can be written)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(self, transport: asyncio.WriteTransport | None, refusal: Refusal) -> None:
        self._metrics.refused.inc()
        if transport is None:
            return
        text = ("too many connections from your address" if refusal is Refusal.ADDRESS
                else "too many connections")
        transport.write(raw_reply(503, text, tls=False))
