"""HTTP/1.1 on the wire, sans I/O: request heads in, response bytes out.

Owns: `parse_head(bytes, limits) -> Request`, `Response.render()`,
`HttpError` (a refusal that becomes a response), `WireLimits`.

Invariants:
- Only origin-form targets (`/path?query`), HTTP/1.0 and HTTP/1.1; header
  names are tokens, no obsolete line folding, at most `max_headers` fields.
- A request with `Transfer-Encoding` is refused (501, or 400 when it also has
  `Content-Length`): bodies are read by `Content-Length` only, which rules out
  request smuggling through a proxy that reads them differently.
- An HTTP/1.1 request needs exactly one `Host`.
- Responses always carry `Content-Length`; `Connection: close` when closing.

Ref: RFC 9110 (semantics), RFC 9112 2.2, 3, 5, 6.1, 6.3, 9.3 (message syntax,
Host, bodies, persistence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qs, unquote

REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
           415: "Unsupported Media Type", 429: "Too Many Requests",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REQUEST_LINE = re.compile(r"^([A-Z]{1,16}) (/[^ ]*) HTTP/(1\.[01])$")
MAX_QUERY_FIELDS = 20


class HttpError(Exception):
    """A refused request: becomes a response with this status, then the connection closes."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or REASONS.get(status, ""))
        self.status = status


@dataclass(frozen=True)
class WireLimits:
    max_header_bytes: int = 16_384
    max_headers: int = 64
    max_body: int = 65_536


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def path(self) -> str:
        return unquote(self.target.split("?", 1)[0])

    @property
    def query(self) -> dict[str, list[str]]:
        raw = self.target.split("?", 1)[1] if "?" in self.target else ""
        try:
            return parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise HttpError(400, "too many query parameters") from None

    def header(self, name: str) -> str | None:
        """The value of a header field that appears at most once (else 400)."""
        values = [v for k, v in self.headers if k == name]
        if len(values) > 1:
            raise HttpError(400, f"repeated {name} header")
        return values[0] if values else None

    @property
    def content_length(self) -> int:
        value = self.header("content-length")
        if value is None:
            return 0
        if not value.isdigit() or len(value) > 12:
            raise HttpError(400, "bad Content-Length")
        return int(value)

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        return "keep-alive" in tokens if self.version == "1.0" else "close" not in tokens


def _header_line(line: str) -> tuple[str, str]:
    if line[:1] in (" ", "\t"):
        raise HttpError(400, "obsolete line folding")
    name, sep, value = line.partition(":")
    if not sep or not _TOKEN.match(name):
        raise HttpError(400, "malformed header field")
    return name.lower(), value.strip(" \t")


def parse_head(head: bytes, limits: WireLimits) -> Request:
    """Parse the request line and header fields (the bytes up to the blank line)."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, "non-ASCII request head") from None
    lines = text.split("\r\n")
    match = _REQUEST_LINE.match(lines[0])
    if match is None:
        version_only = lines[0].rsplit(" ", 1)[-1]
        raise HttpError(505 if version_only.startswith("HTTP/") and
                        not version_only.startswith("HTTP/1.") else 400, "bad request line")
    fields = [ln for ln in lines[1:] if ln]
    if len(fields) > limits.max_headers:
        raise HttpError(431, "too many header fields")
    request = Request(match[1], match[2], match[3], tuple(_header_line(ln) for ln in fields))
    _check_framing(request, limits)
    return request


def _check_framing(request: Request, limits: WireLimits) -> None:
    if request.header("transfer-encoding") is not None:
        raise HttpError(400 if request.header("content-length") else 501,
                        "Transfer-Encoding is not accepted")
    if request.version == "1.1" and not request.header("host"):
        raise HttpError(400, "missing Host")
    if request.content_length > limits.max_body:
        raise HttpError(413, "request body too large")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def render(self, *, keep_alive: bool, head_only: bool = False, tls: bool = False) -> bytes:
        """The response bytes (status line, fields, body unless `head_only`)."""
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}",
                 f"Date: {formatdate(usegmt=True)}", f"Content-Type: {self.content_type}",
                 f"Content-Length: {len(self.body)}", "X-Content-Type-Options: nosniff",
                 "Cache-Control: no-store"]
        if tls:
            lines.append("Strict-Transport-Security: max-age=31536000")
        lines += [f"{k}: {v}" for k, v in self.headers]
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


def text_response(status: int, text: str = "") -> Response:
    return Response(status, ((text or REASONS.get(status, "")) + "\n").encode())
