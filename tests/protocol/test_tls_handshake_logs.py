"""Failed TLS handshakes on every TLS listener, driven by raw sockets and the
`ssl` module against the running server: each is one WARNING line on
`mss.tls` naming the listener, the client's address and OpenSSL's reason, at
most `HandshakeLog`'s burst per interval (then one line counting the rest),
never an ERROR, never a traceback; the listener still serves a good client
afterwards (smtplib, imaplib, http.client).

Ref: RFC 8314 (implicit TLS), RFC 3207 (SMTP STARTTLS), RFC 3501 6.2.1 (IMAP
STARTTLS), RFC 8446 6 (alerts).
"""

from __future__ import annotations

import asyncio
import http.client
import imaplib
import logging
import re
import smtplib
import socket
import ssl
import warnings
from collections.abc import Callable

import pytest

from imap_store.store.tls_failures import BURST, HandshakeLog
from tests.protocol.imap_support import in_thread
from tests.support import PASSWORD, Operator

BAD = BURST + 5
Prelude = Callable[[socket.socket], None] | None


def _smtp_starttls(sock: socket.socket) -> None:
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"220")
    sock.sendall(b"EHLO client.test\r\n")
    while (line := reader.readline())[3:4] != b" ":
        assert line.startswith(b"250"), line
    sock.sendall(b"STARTTLS\r\n")
    assert reader.readline().startswith(b"220"), "STARTTLS refused"


def _imap_starttls(sock: socket.socket) -> None:
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"* OK")
    sock.sendall(b"s STARTTLS\r\n")
    assert reader.readline().startswith(b"s OK"), "STARTTLS refused"


def _connect(port: int, prelude: Prelude) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if prelude is not None:
        prelude(sock)
    return sock


def _handshake(sock: socket.socket, ctx: ssl.SSLContext) -> None:
    try:
        ctx.wrap_socket(sock, server_hostname="localhost").close()
    except (ssl.SSLError, OSError):
        pass
    else:
        raise AssertionError("the handshake should have failed")
    finally:
        sock.close()


def garbage(port: int, prelude: Prelude) -> None:
    """Plain text where a ClientHello should be."""
    sock = _connect(port, prelude)
    try:
        sock.sendall(b"HELLO this is not TLS\r\n" * 4)
        sock.recv(100)
    except OSError:
        pass
    finally:
        sock.close()


def unknown_ca(port: int, prelude: Prelude) -> None:
    """A client that does not trust the server's certificate (it sends an alert)."""
    _handshake(_connect(port, prelude), ssl.create_default_context())


def tls10_only(port: int, prelude: Prelude) -> None:
    """A client that speaks TLS 1.0 and nothing newer (R5: the server needs 1.2+)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    _handshake(_connect(port, prelude), ctx)


KINDS = (garbage, unknown_ca, tls10_only)
LISTENERS = [("submissions", None), ("submission", _smtp_starttls), ("imaps", None),
             ("imap", _imap_starttls), ("http", None)]


def _good_client(op: Operator, listener: str, user: str) -> None:
    port, ctx = op.ports[listener], op.client_context()
    if listener == "submissions":
        with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=10) as s:
            s.login(user, PASSWORD)
            assert s.noop()[0] == 250
    elif listener == "submission":
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.starttls(context=ctx)
            s.login(user, PASSWORD)
            assert s.noop()[0] == 250
    elif listener == "imaps":
        c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=10)
        assert c.login(user, PASSWORD)[0] == "OK" and c.logout()[0] == "BYE"
    elif listener == "imap":
        c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        c.starttls(ssl_context=ctx)
        assert c.login(user, PASSWORD)[0] == "OK" and c.logout()[0] == "BYE"
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()


def _tls_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mss.tls" and r.levelno >= logging.INFO]


async def _wait_for_lines(caplog: pytest.LogCaptureFixture, count: int) -> None:
    for _ in range(200):  # the server logs each failure when its side of it ends
        if len(_tls_lines(caplog)) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # nothing more may come


@pytest.mark.parametrize(("listener", "prelude"), LISTENERS, ids=[n for n, _ in LISTENERS])
async def test_failed_handshakes_are_rate_limited_warning_lines(
        operator: Operator, caplog: pytest.LogCaptureFixture, listener: str,
        prelude: Prelude) -> None:
    user = await operator.add_bal("bob")
    port = operator.ports[listener]
    caplog.clear()

    def bad_clients() -> None:
        for n in range(BAD):
            KINDS[n % len(KINDS)](port, prelude)

    await in_thread(bad_clients)
    await _wait_for_lines(caplog, BURST)
    lines = _tls_lines(caplog)
    assert len(lines) == BURST, [r.getMessage() for r in lines]
    reasons = set()
    for record in lines:
        assert record.levelno == logging.WARNING and record.exc_info is None
        match = re.fullmatch(rf"TLS handshake failed on {listener} from 127\.0\.0\.1: "
                             r"([A-Z0-9_]+)", record.getMessage())
        assert match, record.getMessage()
        reasons.add(match.group(1))
    assert {"TLSV1_ALERT_UNKNOWN_CA", "UNSUPPORTED_PROTOCOL"} < reasons, reasons
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not [r for r in caplog.records if "Traceback" in r.getMessage()]

    await in_thread(_good_client, operator, listener, user)
    assert len(_tls_lines(caplog)) == BURST


async def test_a_connection_closed_during_the_handshake_is_not_a_warning(
        operator: Operator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()

    def probes() -> None:  # a TCP health check: connect, close
        for listener in ("submissions", "imaps", "http"):
            socket.create_connection(("127.0.0.1", operator.ports[listener]), timeout=10).close()

    await in_thread(probes)
    await asyncio.sleep(0.5)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_failures_past_the_burst_are_counted_in_one_line(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    failures = HandshakeLog("imaps", burst=3, interval=60.0, clock=lambda: now[0])
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    caplog.clear()
    for _ in range(10):
        failures.failed(("192.0.2.7", 5555), error)
    assert [r.getMessage() for r in caplog.records] == [
        "TLS handshake failed on imaps from 192.0.2.7: WRONG_VERSION_NUMBER"] * 3
    now[0] += 61
    failures.failed(("192.0.2.8", 5555), TimeoutError())
    assert [r.getMessage() for r in caplog.records[3:]] == [
        "TLS handshake failed on imaps: 7 more failures not logged in 60 s",
        "TLS handshake failed on imaps from 192.0.2.8: handshake timed out"]


async def test_the_count_is_told_when_the_interval_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    failures = HandshakeLog("submissions", burst=2, interval=0.2)
    caplog.clear()
    for _ in range(5):
        failures.failed(("192.0.2.7", 5555), ConnectionAbortedError())
    assert len(caplog.records) == 2
    await asyncio.sleep(0.4)
    assert caplog.records[-1].getMessage() == (
        "TLS handshake failed on submissions: 3 more failures not logged in 0.2 s")
    assert all(r.levelno == logging.WARNING for r in caplog.records)
