"""HTTP/1.1 request heads and responses, sans I/O (RFC 9112)."""

from __future__ import annotations

import pytest

from server.http.wire import HttpError, Response, WireLimits, parse_head

LIMITS = WireLimits(max_header_bytes=4096, max_headers=5, max_body=100)


def head(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


def test_request_line_target_query_and_headers() -> None:
    req = parse_head(head("GET /directory/search?q=Lef%C3%A8vre&limit=5 HTTP/1.1",
                          "Host: mail.example", "X-A:  spaced value "), LIMITS)
    assert (req.method, req.path, req.version) == ("GET", "/directory/search", "1.1")
    assert req.query == {"q": ["Lefèvre"], "limit": ["5"]}
    assert req.header("x-a") == "spaced value"
    assert req.keep_alive and req.content_length == 0


@pytest.mark.parametrize(("version", "connection", "keep"), [
    ("1.1", None, True), ("1.1", "close", False), ("1.0", None, False),
    ("1.0", "keep-alive", True), ("1.1", "Keep-Alive, Close", False),
])
def test_persistence(version: str, connection: str | None, keep: bool) -> None:
    lines = [f"GET / HTTP/{version}", "Host: h"]
    if connection:
        lines.append(f"Connection: {connection}")
    assert parse_head(head(*lines), LIMITS).keep_alive is keep


@pytest.mark.parametrize(("lines", "status"), [
    (["GET / HTTP/2.0", "Host: h"], 505),
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
])
def test_refusals(lines: list[str], status: int) -> None:
    with pytest.raises(HttpError) as exc:
        parse_head(head(*lines), LIMITS)
    assert exc.value.status == status


def test_too_many_query_parameters_is_a_client_error() -> None:
    req = parse_head(head("GET /x?" + "&".join(f"a{i}=1" for i in range(30)) + " HTTP/1.1",
                          "Host: h"), LIMITS)
    with pytest.raises(HttpError) as exc:
        _ = req.query
    assert exc.value.status == 400


def test_non_ascii_head_is_refused() -> None:
    with pytest.raises(HttpError) as exc:
        parse_head("GET /é HTTP/1.1\r\nHost: h".encode(), LIMITS)
    assert exc.value.status == 400


def test_response_rendering() -> None:
    resp = Response(405, b"no\n", headers=[("Allow", "GET, HEAD")])
    raw = resp.render(keep_alive=False, tls=True)
    head_part, body = raw.split(b"\r\n\r\n", 1)
    assert head_part.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    for field in (b"Content-Length: 3", b"Allow: GET, HEAD", b"Connection: close",
                  b"Strict-Transport-Security: max-age=31536000"):
        assert field in head_part
    assert body == b"no\n"
    assert resp.render(keep_alive=True, head_only=True).endswith(b"Connection: keep-alive\r\n\r\n")
