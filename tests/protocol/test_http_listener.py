"""The HTTP listener's bounds and HTTP/1.1 behaviour, driven over real sockets:
oversized heads and bodies, slow clients, idle keep-alive, connection cap, framing
(RFC 9112), 404/405, HEAD, health and metrics."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from tests.protocol.directory_http import connect, http_operator, request
from tests.support import Operator

BOUNDS = """
[http]
max_connections = 3
max_header_bytes = 2048
max_headers = 10
max_body = 1000
request_timeout = 1
idle_timeout = 2
"""


def raw(op: Operator, data: bytes, *, wait: float = 10) -> bytes:
    """Send bytes on a plain connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", op.ports["http"]), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


async def test_oversized_and_malformed_requests_are_refused(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        cases = {
            b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 4000 + b"\r\n\r\n": 431,
            b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * 11 + b"\r\n": 431,
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\n"
            b"Content-Length: 1001\r\n\r\n": 413,
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n": 501,
            b"GET /healthz HTTP/1.1\r\n\r\n": 400,
            b"GET /healthz HTTP/3.0\r\nHost: h\r\n\r\n": 505,
            b"\x16\x03\x01\x02\x00\x01\r\n\r\n": 400,
        }
        for data, expected in cases.items():
            answer = await asyncio.to_thread(raw, op, data)
            assert status(answer) == expected, (data[:40], answer[:80])
            assert b"Connection: close" in answer


async def test_slow_clients_and_idle_connections_are_closed(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        def slow_head() -> tuple[bytes, float]:
            started = time.monotonic()
            return raw(op, b"GET /healthz HTTP/1.1\r\nHost: h\r\n"), time.monotonic() - started

        answer, took = await asyncio.to_thread(slow_head)
        assert status(answer) == 408 and took < 5

        def idle_keepalive() -> tuple[int, float]:
            with socket.create_connection(("127.0.0.1", op.ports["http"]), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
                first = s.recv(65536)
                started = time.monotonic()
                assert s.recv(65536) == b""
                return status(first), time.monotonic() - started

        code, idle = await asyncio.to_thread(idle_keepalive)
        assert code == 200 and 1 <= idle < 6


async def test_connections_beyond_the_cap_get_503(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        held = [socket.create_connection(("127.0.0.1", op.ports["http"])) for _ in range(3)]
        try:
            await asyncio.sleep(0.2)
            answer = await asyncio.to_thread(raw, op, b"")
            assert status(answer) == 503
        finally:
            for s in held:
                s.close()
        await asyncio.sleep(0.2)
        answer = await asyncio.to_thread(raw, op, b"GET /healthz HTTP/1.0\r\n\r\n")
        assert status(answer) == 200


async def test_routes_methods_head_health_and_metrics(tmp_path: Path) -> None:
    async with http_operator(tmp_path) as op:
        def run() -> dict[str, tuple[int, dict[str, str], bytes]]:
            c = connect(op)
            return {"health": request(c, "GET", "/healthz"),
                    "head": request(c, "HEAD", "/healthz"),
                    "missing": request(c, "GET", "/nothing"),
                    "method": request(c, "DELETE", "/healthz"),
                    "post_only": request(c, "GET", "/autodiscover/autodiscover.xml"),
                    "metrics": request(c, "GET", "/metrics")}

        got = await asyncio.to_thread(run)
        assert got["health"][0] == 200 and got["health"][2] == b"ok\n"
        assert got["head"][0] == 200 and got["head"][2] == b""
        assert got["head"][1]["content-length"] == "3"
        assert got["missing"][0] == 404
        assert got["method"][0] == 405 and got["method"][1]["allow"] == "GET, HEAD"
        assert got["post_only"][0] == 405 and got["post_only"][1]["allow"] == "POST"
        text = got["metrics"][2].decode()
        assert 'mss_http_requests_total{status="404"} 1' in text
        assert "mss_directory_entries 0" in text and "# TYPE mss_uptime_seconds gauge" in text


async def test_stop_closes_idle_keepalive_connections(tmp_path: Path) -> None:
    op_cm = http_operator(tmp_path, tls=False)
    op = await op_cm.__aenter__()
    try:
        sock = socket.create_connection(("127.0.0.1", op.ports["http"]), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await asyncio.to_thread(sock.recv, 65536)
        started = time.monotonic()
        await op.stop()
        assert time.monotonic() - started < 4
        assert await asyncio.to_thread(sock.recv, 65536) == b""
        sock.close()
    finally:
        await op_cm.__aexit__(None, None, None)
