"""The TLS profile of every listener (465, 587 STARTTLS, 25 STARTTLS, 993, 143
STARTTLS, HTTP), driven with Python's OpenSSL client.

Each refusal is shown to come from the server: the same client context first
completes a handshake with a permissive control server (TLS 1.0 and every
suite, `@SECLEVEL=0`), and our listener then answers it with a TLS alert. Each
refusal has its positive control: the same client with a profile R5/R6 allow
completes the handshake and speaks the protocol.

Ref: R5 (TLS 1.2 at least; `tls.tls13`), R6 (the four ECDHE-RSA suites of TLS
1.2), acceptance cases T2 and T3 (docs/rules.md); RFC 3207, RFC 3501 6.2.1
(STARTTLS); RFC 8446 6.2 (alerts).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from server import config as config_mod
from server.tls import R6_CIPHERS
from tests.support import Operator, make_operator, serving

LISTENERS = ("submissions", "submission", "smtp", "imaps", "imap", "http")
R6 = R6_CIPHERS.split(":")
# TLS 1.2 suites outside R6 (T3 names the first one).
NOT_R6 = ("AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA",
          "ECDHE-RSA-CHACHA20-POLY1305", "AES256-SHA256", "AES256-GCM-SHA384",
          "NULL-SHA256", "ECDHE-RSA-NULL-SHA")
VERSION_REFUSED = {"TLSV1_ALERT_PROTOCOL_VERSION", "closed"}
SUITE_REFUSED = {"SSLV3_ALERT_HANDSHAKE_FAILURE", "closed"}


def _until(sock: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    """Read plaintext until `done`; the server sends nothing more unasked, so no
    byte of the TLS handshake that follows is consumed here."""
    data = b""
    while not done(data):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed before the end of the reply: {data!r}")
        data += chunk
    return data


def _smtp_reply_done(data: bytes) -> bool:
    return re.search(rb"(?m)^\d{3} [^\r\n]*\r\n\Z", data) is not None


def _starttls(listener: str, sock: socket.socket) -> None:
    """The plaintext part of STARTTLS on 587, 25 and 143; nothing on the others."""
    if listener in ("submission", "smtp"):
        assert _until(sock, _smtp_reply_done).startswith(b"220 ")
        sock.sendall(b"EHLO client.test\r\n")
        assert b"STARTTLS" in _until(sock, _smtp_reply_done)
        sock.sendall(b"STARTTLS\r\n")
        assert _until(sock, _smtp_reply_done).startswith(b"220 ")
    elif listener == "imap":
        assert _until(sock, lambda d: d.endswith(b"\r\n")).startswith(b"* OK ")
        sock.sendall(b"T STARTTLS\r\n")
        assert _until(sock, lambda d: d.endswith(b"\r\n")).startswith(b"T OK ")


def _speak(listener: str, tls: ssl.SSLSocket) -> bytes:
    """One exchange over the new TLS session: the listener's protocol answers."""
    if listener == "submissions":
        assert _until(tls, _smtp_reply_done).startswith(b"220 ")
    if listener in ("submissions", "submission", "smtp"):
        tls.sendall(b"EHLO client.test\r\n")
        return _until(tls, _smtp_reply_done)
    if listener == "imaps":
        assert _until(tls, lambda d: d.endswith(b"\r\n")).startswith(b"* OK ")
    if listener in ("imaps", "imap"):
        tls.sendall(b"C CAPABILITY\r\n")
        return _until(tls, lambda d: b"\r\nC OK " in d and d.endswith(b"\r\n"))
    tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    return _until(tls, lambda d: d.endswith(b"ok\n"))


def handshake(op: Operator, listener: str, ctx: ssl.SSLContext,
              ) -> tuple[str | None, str, bytes]:
    """Connect, STARTTLS if needed, handshake; (version, cipher, first answer).
    A refused handshake raises `ssl.SSLError`."""
    sock = socket.create_connection(("127.0.0.1", op.ports[listener]), timeout=10)
    try:
        _starttls(listener, sock)
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            cipher = tls.cipher()
            assert cipher is not None
            return tls.version(), cipher[0], _speak(listener, tls)
    finally:
        sock.close()


def refusal(op: Operator, listener: str, ctx: ssl.SSLContext) -> str:
    """How the server ended the handshake: the reason of its alert, or "closed"
    when it closed the connection after our ClientHello without one (asyncio's
    TLS transport drops the alert OpenSSL wrote when the handshake fails). A
    refusal by the client itself ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE")
    is neither, and fails the test."""
    try:
        handshake(op, listener, ctx)
    except ssl.SSLError as exc:
        if exc.reason == "UNEXPECTED_EOF_WHILE_READING":
            return "closed"
        return str(exc.reason)
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    raise AssertionError(f"{listener}: the handshake succeeded")


def client(op: Operator, *, maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
           minimum: ssl.TLSVersion = ssl.TLSVersion.MINIMUM_SUPPORTED,
           ciphers: str = "ALL:COMPLEMENTOFALL:@SECLEVEL=0") -> ssl.SSLContext:
    """The operator's CA trusted, every protocol version and suite this OpenSSL
    build has allowed unless narrowed."""
    ctx = op.client_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        ctx.minimum_version = minimum
        ctx.maximum_version = maximum
    ctx.set_ciphers(ciphers if "@" in ciphers else ciphers + ":@SECLEVEL=0")
    return ctx


@contextmanager
def permissive_server(op: Operator) -> Iterator[int]:
    """A control server with the operator's certificate that accepts TLS 1.0 and
    every suite: proves a client context can offer what our listeners refuse."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    certs = op.directory / "certs"
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (ssl.SSLError, OSError):
                    pass

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        worker.join(5)


def control(port: int, ctx: ssl.SSLContext) -> tuple[str | None, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            cipher = tls.cipher()
            assert cipher is not None
            return tls.version(), cipher[0]


def _spoke(listener: str, answer: bytes) -> bool:
    if listener in ("submissions", "submission", "smtp"):
        return answer.startswith(b"250-") and b"\r\n250 " in answer
    if listener in ("imaps", "imap"):
        return b"* CAPABILITY IMAP4rev1" in answer
    return answer.startswith(b"HTTP/1.1 200 ")


@asynccontextmanager
async def tls13_off(tmp_path: Path) -> AsyncIterator[Operator]:
    op = await make_operator(tmp_path)
    path = op.directory / "mss.toml"
    text, count = re.subn(r"(?m)^tls13 = true$", "tls13 = false", path.read_text())
    assert count == 1
    path.write_text(text)
    op.cfg = config_mod.load(path)
    assert op.cfg.tls.tls13 is False
    async with serving(op) as running:
        yield running


def _refuses_then_serves_tls12(op: Operator, listener: str, refused: ssl.SSLContext,
                               served: ssl.SSLContext) -> None:
    """`listener` refuses `refused` on its version, then serves `served` over TLS 1.2 with an
    R6 suite and speaks its protocol."""
    assert refusal(op, listener, refused) in VERSION_REFUSED, listener
    got, cipher, answer = handshake(op, listener, served)
    assert got == "TLSv1.2" and cipher in R6, (listener, got, cipher)
    assert _spoke(listener, answer), (listener, answer[:80])


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
async def test_tls_below_1_2_refused_on_every_listener(operator: Operator, version: str) -> None:
    old = client(operator, maximum=getattr(ssl.TLSVersion, version))
    modern = client(operator, maximum=ssl.TLSVersion.TLSv1_2)
    expected = {"TLSv1": "TLSv1", "TLSv1_1": "TLSv1.1"}[version]

    def run() -> None:
        with permissive_server(operator) as port:
            assert control(port, old)[0] == expected
            assert control(port, modern)[0] == "TLSv1.2"
        for listener in LISTENERS:
            _refuses_then_serves_tls12(operator, listener, old, modern)

    await asyncio.to_thread(run)


async def test_tls12_offers_only_the_r6_suites_on_every_listener(operator: Operator) -> None:
    tls12 = ssl.TLSVersion.TLSv1_2

    def run() -> None:
        with permissive_server(operator) as port:
            for suite in NOT_R6:
                assert control(port, client(operator, maximum=tls12, ciphers=suite)) == (
                    "TLSv1.2", suite)
        for listener in LISTENERS:
            for suite in NOT_R6:
                ctx = client(operator, maximum=tls12, ciphers=suite)
                assert refusal(operator, listener, ctx) in SUITE_REFUSED, (
                    listener, suite)
            for suite in R6:
                ctx = client(operator, maximum=tls12, ciphers=suite)
                got, cipher, answer = handshake(operator, listener, ctx)
                assert (got, cipher) == ("TLSv1.2", suite), listener
                assert _spoke(listener, answer), (listener, answer[:80])
            everything = client(operator, maximum=tls12)
            got, cipher, _ = handshake(operator, listener, everything)
            assert got == "TLSv1.2" and cipher in R6, (listener, cipher)

    await asyncio.to_thread(run)


async def test_tls13_on_by_default_on_every_listener(operator: Operator) -> None:
    only13 = client(operator, minimum=ssl.TLSVersion.TLSv1_3)

    def run() -> None:
        for listener in LISTENERS:
            got, cipher, answer = handshake(operator, listener, only13)
            assert got == "TLSv1.3" and cipher.startswith("TLS_"), (listener, got, cipher)
            assert _spoke(listener, answer), (listener, answer[:80])

    await asyncio.to_thread(run)


async def test_tls13_false_caps_every_listener_at_1_2(tmp_path: Path) -> None:
    async with tls13_off(tmp_path) as op:
        only13 = client(op, minimum=ssl.TLSVersion.TLSv1_3)
        default = op.client_context()

        def run() -> None:
            with permissive_server(op) as port:
                assert control(port, only13)[0] == "TLSv1.3"
            for listener in LISTENERS:
                _refuses_then_serves_tls12(op, listener, only13, default)

        await asyncio.to_thread(run)


async def test_failed_starttls_on_imap_and_failed_tls_on_http_leave_nothing(
        operator: Operator) -> None:
    """A client that answers STARTTLS's OK (or the HTTP listener's TLS) with
    plaintext gets no answer in clear, its command is never run (no login is
    attempted), the connection is closed and no longer counted, and the next
    client is served."""
    bob = await operator.add_bal("bob")
    assert operator.running is not None
    imap = dict(operator.running.imap)["imap"]
    http = operator.running.http
    assert http is not None

    def attempt(listener: str) -> bytes:
        sock = socket.create_connection(("127.0.0.1", operator.ports[listener]), timeout=10)
        with sock:
            _starttls(listener, sock)
            if listener == "imap":
                sock.sendall(b'A LOGIN ' + bob.encode() + b' "correct horse"\r\n')
            else:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = b""
            try:
                while chunk := sock.recv(4096):
                    received += chunk
            except ConnectionResetError:
                pass
            return received

    for listener, counted in (("imap", lambda: imap.connection_count),
                              ("http", lambda: http.connection_count)):
        received = await asyncio.to_thread(attempt, listener)
        assert b"LOGIN" not in received and b"HTTP/1." not in received, (listener, received)
        assert received == b"" or received.startswith(b"\x15\x03"), (listener, received)
        for _ in range(100):
            if counted() == 0:
                break
            await asyncio.sleep(0.02)
        assert counted() == 0, listener
        got, _, answer = await asyncio.to_thread(handshake, operator, listener,
                                                 operator.client_context())
        assert got is not None and _spoke(listener, answer), listener
    assert await operator.audit_rows("auth.failure") == []
    assert await operator.audit_rows("auth.success") == []
