"""TLS facts in the audit for every TLS session of every listener, and failed handshakes.

Real clients (smtplib on 465 and 587 STARTTLS, imaplib on 993 and 143
STARTTLS, http.client on the HTTPS listener) open TLS sessions; the test reads
the `tls.session` audit rows and finds, for each session, the listener, the
protocol version and cipher suite the client negotiated and an empty peer
subject (these listeners request no client certificate; the MX's client
certificate subject is checked in `test_mx_inbound`). A TLS 1.1 client and a
TLS 1.2 client offering only a suite outside R6 fail the handshake, and the
audit names the listener, the peer address and OpenSSL's reason.

Ref: R5, R6, R24; RFC 3207, RFC 3501 6.2.1 (STARTTLS); RFC 8314 (implicit TLS).
"""

from __future__ import annotations

import asyncio
import http.client
import imaplib
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.protocol.test_tls_profile import client, refusal
from tests.support import Operator, make_operator, serving

Opened = tuple[str | None, str]  # (version, cipher) the client negotiated


@pytest.fixture
async def op(tmp_path: Path) -> AsyncIterator[Operator]:
    async with serving(await make_operator(tmp_path)) as running:
        yield running


def _facts(sock: object) -> Opened:
    assert isinstance(sock, ssl.SSLSocket)
    cipher = sock.cipher()
    assert cipher is not None
    return sock.version(), cipher[0]


def submissions(op: Operator, ctx: ssl.SSLContext) -> Opened:
    with smtplib.SMTP_SSL("127.0.0.1", op.ports["submissions"], context=ctx,
                          timeout=20) as smtp:
        smtp.ehlo("client.test")
        return _facts(smtp.sock)


def submission(op: Operator, ctx: ssl.SSLContext) -> Opened:
    with smtplib.SMTP("127.0.0.1", op.ports["submission"], timeout=20) as smtp:
        smtp.ehlo("client.test")
        smtp.starttls(context=ctx)
        smtp.ehlo("client.test")
        return _facts(smtp.sock)


def imaps(op: Operator, ctx: ssl.SSLContext) -> Opened:
    imap = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=ctx, timeout=20)
    try:
        imap.capability()
        return _facts(imap.sock)
    finally:
        imap.logout()


def imap(op: Operator, ctx: ssl.SSLContext) -> Opened:
    session = imaplib.IMAP4("127.0.0.1", op.ports["imap"], timeout=20)
    try:
        session.starttls(ssl_context=ctx)
        session.capability()
        return _facts(session.sock)
    finally:
        session.logout()


def https(op: Operator, ctx: ssl.SSLContext) -> Opened:
    conn = http.client.HTTPSConnection("127.0.0.1", op.ports["http"], timeout=20, context=ctx)
    try:
        for _ in range(2):  # two requests on one connection: one TLS session
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
        return _facts(conn.sock)
    finally:
        conn.close()


CLIENTS: dict[str, Callable[[Operator, ssl.SSLContext], Opened]] = {
    "submissions": submissions, "submission": submission, "imaps": imaps, "imap": imap,
    "http": https}


async def _rows(op: Operator, event: str, listener: str, count: int) -> list[dict]:
    """The `event` rows of `listener`, once there are `count` (some are written as the
    connection ends, after the client saw it end)."""
    rows: list[dict] = []
    for _ in range(100):
        rows = [r for r in await op.audit_rows(event) if r["listener"] == listener]
        if len(rows) >= count:
            break
        await asyncio.sleep(0.05)
    return rows


@pytest.mark.parametrize("listener", list(CLIENTS))
async def test_each_tls_session_is_audited_with_protocol_and_cipher(
        op: Operator, listener: str) -> None:
    tls12 = op.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    tls12.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    opened = [await asyncio.to_thread(CLIENTS[listener], op, ctx)
              for ctx in (op.client_context(), tls12)]
    assert opened[1] == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    rows = await _rows(op, "tls.session", listener, 2)
    assert [(r["protocol"], r["cipher"], r["peer_subject"]) for r in rows] == [
        (version, cipher, "") for version, cipher in opened]
    assert await op.audit_rows("tls.handshake_failed") == []


def _tls11(op: Operator) -> ssl.SSLContext:
    return client(op, maximum=ssl.TLSVersion.TLSv1_1)


def _weak_suite(op: Operator) -> ssl.SSLContext:
    return client(op, maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-SHA")


@pytest.mark.parametrize("listener", list(CLIENTS))
@pytest.mark.parametrize(("offer", "reasons"), [
    (_tls11, {"UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER"}),
    (_weak_suite, {"NO_SHARED_CIPHER"}),
])
async def test_a_refused_handshake_is_audited_with_the_peer_and_the_reason(
        op: Operator, listener: str, offer: Callable[[Operator, ], ssl.SSLContext],
        reasons: set[str]) -> None:
    await asyncio.to_thread(refusal, op, listener, offer(op))
    failed = await _rows(op, "tls.handshake_failed", listener, 1)
    assert len(failed) == 1
    assert failed[0]["peer"] == "127.0.0.1" and failed[0]["reason"] in reasons
    assert await _rows(op, "tls.session", listener, 0) == []
