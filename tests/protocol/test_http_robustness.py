"""The HTTP listener against clients that pipeline, send garbage or stop halfway,
over real sockets with bounded timeouts: the server answers or closes within a
few seconds and never waits forever (RFC 9112 9.3.2 pipelining, 2.2 robustness)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest

from tests.protocol.directory_http import http_operator
from tests.protocol.http_raw import RawClient, exchange

BOUNDS = """
[http]
max_header_bytes = 2048
max_headers = 10
max_body = 1000
request_timeout = 1
idle_timeout = 2
"""
GET = b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"


async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        def run() -> list[tuple[int, bytes]]:
            with RawClient(op) as c:
                c.send(GET + b"GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n"
                       + b"HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
                       + b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                got = [c.response()[::2], c.response()[::2]]
                status, _h, _b = c.response(head_only=True)
                got += [(status, b""), c.response()[::2]]
                assert c.closed(), "Connection: close ends the pipeline"
                return got

        got = await asyncio.to_thread(run)
        assert got == [(200, b"ok\n"), (404, b"Not Found\n"), (200, b""), (200, b"ok\n")]


def _statuses_until_closed(client: RawClient) -> list[int]:
    statuses: list[int] = []
    while not (client.buf == b"" and client.closes_within(3)):
        statuses.append(client.response()[0])
    return statuses


async def test_a_malformed_request_in_a_pipeline_ends_it(tmp_path: Path) -> None:
    """The parser reads what arrived together as one stream: a malformed request in it
    is answered 400 and ends the connection (the requests before it in the same
    packet may be answered or not); a request after it is never read."""
    bad = b"GET / HTTP/1.1\r\nNoColonHere\r\n\r\n"
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        def together() -> list[int]:
            with RawClient(op) as c:
                c.send(GET + bad + GET)
                return _statuses_until_closed(c)

        def one_then_the_other() -> list[int]:
            with RawClient(op) as c:
                c.send(GET)
                first = c.response()[0]
                c.send(bad + GET)
                return [first, *_statuses_until_closed(c)]

        got = await asyncio.to_thread(together)
        assert got[-1] == 400 and set(got[:-1]) <= {200} and len(got) <= 2, got
        assert await asyncio.to_thread(one_then_the_other) == [200, 400]


MALFORMED = {
    "bad request line": b"GARBAGE\r\n\r\n",
    "request line without version": b"GET /healthz\r\nHost: h\r\n\r\n",
    "bare LF line ends": b"GET /healthz HTTP/1.1\nHost: h\n\n",
    "header without colon": b"GET /healthz HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
    "NUL in a header value": b"GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    "NUL in the target": b"GET /heal\x00thz HTTP/1.1\r\nHost: h\r\n\r\n",
    "absurd Content-Length": b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\n"
                             b"Content-Length: 99999999999999999999999999\r\n\r\n",
    "Content-Length not a number": b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\n"
                                   b"Host: h\r\nContent-Length: 12abc\r\n\r\n",
    "request line over the limit": b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    "TLS on the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    "CONNECT": b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n",
    "asterisk target": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "HTTP/0.9 style": b"GET /healthz\r\n\r\n",
}


async def test_malformed_requests_are_answered_and_closed(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        for name, data in MALFORMED.items():
            status, headers, took = await asyncio.to_thread(exchange, op, data)
            assert 400 <= status < 500 or status == 505, (name, status)
            assert headers["connection"] == "close", name
            assert took < 4, (name, took)
        status, _h, _t = await asyncio.to_thread(exchange, op, GET.replace(b"1.1", b"2.0"))
        assert status == 505


async def test_a_request_stopped_halfway_gets_408_and_is_closed(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        partial = {
            "head": b"GET /healthz HTTP/1.1\r\nHost: h\r\nX-Slow: ",
            "body": b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\n"
                    b"Content-Length: 50\r\n\r\n<Autodiscover>",
        }
        for what, data in partial.items():
            status, _h, took = await asyncio.to_thread(exchange, op, data)
            assert status == 408 and took < 5, (what, status, took)


async def test_a_silent_connection_is_closed_without_an_answer(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        def run() -> tuple[bytes, float]:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", op.ports["http"]), timeout=5) as s:
                return s.recv(65536), time.monotonic() - started

        data, took = await asyncio.to_thread(run)
        assert data == b"" and 0.5 <= took < 4


async def test_the_requests_per_connection_bound_closes_the_connection(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=BOUNDS) as op:
        def run() -> tuple[list[int], str, bool]:
            with RawClient(op) as c:
                c.send(GET * 100)
                got = [c.response() for _ in range(100)]
                return [s for s, _h, _b in got], got[-1][1].get("connection", ""), c.closed()

        statuses, last, closed = await asyncio.to_thread(run)
        assert statuses == [200] * 100 and last == "close" and closed


async def test_stopping_with_connections_open_logs_no_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with http_operator(tmp_path, extra_toml=BOUNDS.replace("request_timeout = 1",
                                                                 "request_timeout = 30")) as op:
        assert op.running is not None and op.running.http is not None
        port = op.ports["http"]
        idle, half_head, in_flight = [await asyncio.to_thread(RawClient, op, tls=True)
                                      for _ in range(3)]
        idle.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await asyncio.to_thread(idle.response))[0] == 200
        half_head.send(b"GET /healthz HTTP/1.1\r\nHost: loc")
        in_flight.send(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: localhost\r\n"
                       b"Content-Length: 50\r\n\r\n<Autodiscover>")
        no_handshake = socket.create_connection(("127.0.0.1", port))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await op.running.http.shutdown(1.0)
        took = time.monotonic() - started
        for client in (idle, half_head, in_flight):
            assert await asyncio.to_thread(client.closes_within, 3), "closed at stop"
            client.sock.close()
        no_handshake.close()
    assert took < 4
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]
