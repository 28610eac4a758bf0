"""How the HTTP listener answers: plain-text replies, refusals and the headers
every response carries.

Owns: `Refusal` (raised anywhere below a page, answered once by the guard
middleware), `text_response`, `harden` (the headers on every response),
`raw_reply` (the bytes written straight to a transport when there is no
request to answer: over the connection cap, a head that never completed).

Invariants: a refusal body is a short fixed text, never an echo of the
request (aiohttp's own parser messages quote the request and are not sent);
every response is `no-store`, `nosniff`, and on TLS carries HSTS.

Ref: RFC 9110 15 (status codes), RFC 6797 (HSTS), RFC 6585 4, 5 (429, 431).
"""

from __future__ import annotations

from email.utils import formatdate
from http import HTTPStatus

from aiohttp import web

TEXT = "text/plain; charset=utf-8"
HSTS = "max-age=31536000"


class Refusal(Exception):
    """A request refused with `status`; `close` also ends the connection."""

    def __init__(self, status: int, text: str = "", *, close: bool = False) -> None:
        super().__init__(text or reason(status))
        self.status, self.close = status, close


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def text_response(status: int, text: str = "",
                  headers: dict[str, str] | None = None) -> web.Response:
    body = ((text or reason(status)) + "\n").encode()
    return web.Response(status=status, body=body, headers={"Content-Type": TEXT, **(headers or {})})


def common_headers(tls: bool) -> dict[str, str]:
    """The headers every response carries, whichever way it is written."""
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Server": "mss"}
    if tls:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def harden(response: web.StreamResponse, tls: bool) -> None:
    """The headers every response carries (before it is prepared)."""
    response.headers.update(common_headers(tls))


def raw_reply(status: int, text: str, *, tls: bool) -> bytes:
    """A complete `Connection: close` response, for a transport with no request."""
    body = (text + "\n").encode()
    fields = {"Date": formatdate(usegmt=True), "Content-Type": TEXT,
              "Content-Length": str(len(body)), **common_headers(tls), "Connection": "close"}
    head = f"HTTP/1.1 {status} {reason(status)}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
    return head.encode("ascii") + body
