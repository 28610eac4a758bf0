"""The middleware every request goes through before and after its page.

Owns: `guard(limits, metrics)`: the framing checks aiohttp leaves to the
application, the one place where refusals and failures become responses
("raise deep, reply once"), the requests-per-connection bound, the status
counter and the headers every response carries.

Invariants:
- Before any page runs: HTTP/1.0 or 1.1 only (505, written by the
  connection with an HTTP/1.1 status line, since aiohttp answers in the
  request's version); ASCII origin-form targets only (`/path?query`; 400);
  a head of at most `max_header_bytes` in all (431); no `Transfer-Encoding`
  (501: bodies are read by `Content-Length` only, which rules out request
  smuggling through a proxy that reads them differently); a
  `Content-Length` of at most `max_body` (413). Each of these closes the
  connection after the answer.
- A page's `Refusal` becomes its status; aiohttp's routing answers (404, 405
  with `Allow: GET, HEAD`) get our plain text; any other exception is logged
  with its traceback and answered 500, never affecting another connection.
- The `max_requests`-th request on a connection is answered with
  `Connection: close`.

Ref: RFC 9112 2.3, 3.2, 6.1, 6.3, 9.3; RFC 9110 15.5.6 (405 and Allow),
15.5.14 (413), 15.6.2 (501), 15.6.6 (505); RFC 6585 5 (431).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .connection import Connection, HttpLimits
from .metrics import Metrics
from .replies import Refusal, harden, text_response

log = logging.getLogger("mss.http")
VERSIONS = ((1, 0), (1, 1))


def connection_of(request: web.BaseRequest) -> Connection:
    conn = request.protocol
    assert isinstance(conn, Connection)
    return conn


def _head_size(request: web.BaseRequest) -> int:
    line = len(request.method) + len(request.raw_path) + 11
    return line + sum(len(name) + len(value) + 4 for name, value in request.raw_headers)


def check_framing(request: web.BaseRequest, limits: HttpLimits) -> None:
    """Refuse what the listener does not accept, before any page reads the request."""
    if not request.raw_path.startswith("/") or not request.raw_path.isascii():
        raise Refusal(400, "only origin-form ASCII request targets are accepted", close=True)
    if _head_size(request) > limits.max_header_bytes:
        raise Refusal(431, "request head too large", close=True)
    if "Transfer-Encoding" in request.headers:
        raise Refusal(501, "Transfer-Encoding is not accepted", close=True)
    if (request.content_length or 0) > limits.max_body:
        raise Refusal(413, "request body too large", close=True)


async def _answer(request: web.Request, handler: Handler, limits: HttpLimits) -> web.StreamResponse:
    try:
        check_framing(request, limits)
        return await handler(request)
    except Refusal as exc:
        response = text_response(exc.status, str(exc))
        if exc.close:
            response.force_close()
            response.headers["Connection"] = "close"
        return response
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return text_response(405, "method not allowed", headers={"Allow": allowed})
    except web.HTTPException as exc:
        return text_response(exc.status)
    except Exception:
        log.exception("http: handler failed for %s %s", request.method, request.path[:200])
        return text_response(500)


def guard(limits: HttpLimits, metrics: Metrics) -> Middleware:
    """The middleware: checks, one reply per refusal, counting, common headers."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = connection_of(request)
        if tuple(request.version) not in VERSIONS:
            conn.refuse(505, "HTTP version not supported")
            return web.Response(status=505)  # never sent: the connection is closed
        conn.request_started()
        try:
            response = await _answer(request, handler, limits)
        finally:
            conn.request_finished()
        if conn.requests >= limits.max_requests:
            response.force_close()
        metrics.answered(response.status)
        harden(response, conn.tls)
        return response

    return middleware
