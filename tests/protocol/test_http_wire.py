"""HTTP/1.1 request heads and responses on the running listener (RFC 9112): the
request line, target and query, header fields, persistence, the refusals, and the
response fields. Each case of the former sans-I/O parser tests, sent over a real
socket to aiohttp's server with the `[http]` bounds below."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from tests.protocol.directory_http import http_operator, import_file
from tests.protocol.http_raw import RawClient, exchange
from tests.support import Operator

TOKEN = "wire-test-directory-token"
LIMITS = f"""
[http]
max_header_bytes = 4096
max_headers = 5
max_body = 100
request_timeout = 2
idle_timeout = 3
api_tokens = ["{hashlib.sha256(TOKEN.encode()).hexdigest()}"]
"""


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_request_line_target_query_and_headers(tmp_path: Path) -> None:
    async with http_operator(tmp_path, extra_toml=LIMITS) as op:
        await import_file(op)

        def run() -> tuple[int, dict[str, object], int]:
            with RawClient(op, tls=True) as c:
                c.send(head("GET /directory/search?q=Lef%C3%A8vre&limit=5 HTTP/1.1",
                            "Host: localhost", f"Authorization:  Bearer {TOKEN} "))
                status, _h, body = c.response()
                c.send(head("GET /healthz HTTP/1.1", "Host: localhost"))
                again, _h, _b = c.response()
                return status, json.loads(body), again

        status, body, again = await asyncio.to_thread(run)
        assert status == 200 and body["count"] == 5, "query decoded, limit read, OWS trimmed"
        assert again == 200, "an HTTP/1.1 connection is kept by default"


PERSISTENCE = [("1.1", None, True), ("1.1", "close", False), ("1.0", None, False),
               ("1.0", "keep-alive", True), ("1.1", "Keep-Alive, Close", False)]


async def test_persistence(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=LIMITS) as op:
        def kept(version: str, connection: str | None) -> bool:
            lines = [f"GET /healthz HTTP/{version}", "Host: h"]
            if connection:
                lines.append(f"Connection: {connection}")
            with RawClient(op) as c:
                c.send(head(*lines))
                assert c.response()[0] == 200
                return not c.closes_within(1.0)

        for version, connection, keep in PERSISTENCE:
            got = await asyncio.to_thread(kept, version, connection)
            assert got is keep, (version, connection)


REFUSALS = [
    (["GET /healthz HTTP/2.0", "Host: h"], 505),
    (["GET http://x/ HTTP/1.1", "Host: h"], 400),
    (["get / HTTP/1.1", "Host: h"], 400),
    (["GET / HTTP/1.1"], 400),
    (["GET / HTTP/1.1", "Host: a", "Host: b"], 400),
    (["GET / HTTP/1.1", "Host: h", " folded"], 400),
    (["GET / HTTP/1.1", "Host: h", "Bad Name: x"], 400),
    (["GET / HTTP/1.1", "Host: h", "A: 1", "B: 1", "C: 1", "D: 1", "E: 1"], 431),
    (["POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked"], 501),
    (["POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", "Content-Length: 3"], 400),
    (["POST / HTTP/1.1", "Host: h", "Content-Length: 101"], 413),
    (["POST / HTTP/1.1", "Host: h", "Content-Length: -1"], 400),
    (["POST / HTTP/1.1", "Host: h", "Content-Length: 1", "Content-Length: 1"], 400),
]


async def test_refusals(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=LIMITS) as op:
        for lines, expected in REFUSALS:
            status, headers, _took = await asyncio.to_thread(exchange, op, head(*lines))
            assert status == expected, lines
            assert headers.get("connection") == "close", lines


async def test_too_many_query_parameters_is_a_client_error(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=LIMITS) as op:
        target = "/mail/config-v1.1.xml?" + "&".join(f"a{i}=1" for i in range(30))
        ok_target = "/mail/config-v1.1.xml?" + "&".join(f"a{i}=1" for i in range(5))

        def run() -> tuple[int, int]:
            with RawClient(op) as c:
                c.send(head(f"GET {target} HTTP/1.1", "Host: h"))
                refused = c.response()[0]
                c.send(head(f"GET {ok_target} HTTP/1.1", "Host: h"))
                return refused, c.response()[0]

        assert await asyncio.to_thread(run) == (400, 200)


async def test_non_ascii_head_is_refused(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=LIMITS) as op:
        status, _h, _t = await asyncio.to_thread(
            exchange, op, "GET /é HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        assert status == 400


def _rendering(op: Operator) -> tuple[bytes, bytes, bytes, int]:
    with RawClient(op, tls=True) as c:
        c.send(head("DELETE /healthz HTTP/1.1", "Host: localhost", "Connection: close"))
        _s, _h, body = c.response()
        refused_head = c.head
    with RawClient(op, tls=True) as c:
        c.send(head("HEAD /healthz HTTP/1.0", "Connection: keep-alive"))
        _s, headers, _b = c.response(head_only=True)
        head_only = c.head
        assert headers["content-length"] == "3" and c.buf == b"", "HEAD has no body"
        c.send(head("GET /healthz HTTP/1.0", "Connection: keep-alive"))
        return refused_head, body, head_only, c.response()[0]


async def test_response_rendering(tmp_path: Path) -> None:
    async with http_operator(tmp_path, extra_toml=LIMITS) as op:
        refused, body, head_only, next_status = await asyncio.to_thread(_rendering, op)
        assert refused.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
        for field in (f"Content-Length: {len(body)}".encode(), b"Allow: GET, HEAD",
                      b"Connection: close", b"Strict-Transport-Security: max-age=31536000",
                      b"X-Content-Type-Options: nosniff", b"Cache-Control: no-store"):
            assert field in refused, field
        assert body == b"method not allowed\n"
        assert b"Connection: keep-alive" in head_only and next_status == 200
