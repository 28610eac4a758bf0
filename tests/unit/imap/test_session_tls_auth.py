"""Greeting, capabilities, STARTTLS, LOGIN and AUTHENTICATE over real sockets."""

from __future__ import annotations

import base64
import imaplib

import pytest

from tests.unit.imap.conftest import RawClient, ServerThread, TlsMaterial

PLAIN = base64.b64encode(b"\0alice@op-a.mssante.fr\0secret")


def caps_of(lines: list[bytes]) -> set[bytes]:
    (line,) = [ln for ln in lines if ln.startswith(b"* CAPABILITY ")]
    return set(line.split()[2:])


def test_plaintext_capabilities_and_privacy_required(server: ServerThread) -> None:
    client = RawClient(server.plain_port)
    assert client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED")
    caps = caps_of(client.cmd(b"a1", b"CAPABILITY"))
    assert {b"IMAP4rev1", b"STARTTLS", b"LOGINDISABLED", b"LITERAL+", b"IDLE"} <= caps
    assert not any(c.startswith(b"AUTH=") for c in caps)
    assert client.cmd(b"a2", b"LOGIN alice@op-a.mssante.fr secret")[-1] == (
        b"a2 NO [PRIVACYREQUIRED] Use STARTTLS first")
    assert client.cmd(b"a3", b"AUTHENTICATE PLAIN " + PLAIN)[-1].startswith(
        b"a3 NO [PRIVACYREQUIRED]")
    assert client.cmd(b"a4", b"AUTHENTICATE PLAIN")[-1].startswith(b"a4 NO [PRIVACYREQUIRED]")
    assert client.cmd(b"a5", b"NOOP")[-1] == b"a5 OK NOOP completed"
    assert server.backend.attempts == []
    client.close()


def test_starttls_then_login_with_imaplib(server: ServerThread, tls: TlsMaterial) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.plain_port, timeout=5)
    imap.starttls(tls.client_context())
    assert "AUTH=PLAIN" in imap.capabilities
    assert "STARTTLS" not in imap.capabilities and "LOGINDISABLED" not in imap.capabilities
    with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\] Authentication"):
        imap.login("alice@op-a.mssante.fr", "wrong")
    with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\] Authentication"):
        imap.login("nobody@op-a.mssante.fr", "secret")
    typ, data = imap.login("alice@op-a.mssante.fr", "secret")
    assert typ == "OK" and b"[CAPABILITY IMAP4rev1" in data[0]
    assert server.backend.attempts[-1] == ("alice@op-a.mssante.fr", "127.0.0.1")
    assert imap.logout()[0] == "BYE"
    assert "imap.logout" in server.backend.audit.names()


def test_implicit_tls_authenticate_continuation(server: ServerThread, tls: TlsMaterial) -> None:
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.tls_port, ssl_context=tls.client_context(),
                             timeout=5)
    assert "AUTH=PLAIN" in imap.capabilities and "SASL-IR" in imap.capabilities
    typ, _ = imap.authenticate("PLAIN", lambda _: b"\0alice@op-a.mssante.fr\0secret")
    assert typ == "OK"
    imap.logout()


def test_sasl_ir_cancel_and_garbage(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.send(b"c1 AUTHENTICATE PLAIN\r\n")
    assert client.line() == b"+ "
    client.send(b"*\r\n")
    assert client.until_tagged(b"c1")[-1] == b"c1 BAD Authentication cancelled"
    assert client.cmd(b"c2", b"AUTHENTICATE PLAIN !!!")[-1].startswith(b"c2 BAD")
    assert client.cmd(b"c3", b"AUTHENTICATE PLAIN =")[-1] == (
        b"c3 NO [AUTHENTICATIONFAILED] Authentication failed")
    assert client.cmd(b"c4", b"AUTHENTICATE CRAM-MD5")[-1].startswith(b"c4 NO")
    bad = base64.b64encode(b"\0alice@op-a.mssante.fr\0nope")
    assert client.cmd(b"c5", b"AUTHENTICATE PLAIN " + bad)[-1] == (
        b"c5 NO [AUTHENTICATIONFAILED] Authentication failed")
    assert client.cmd(b"c6", b"AUTHENTICATE PLAIN " + PLAIN)[-1].startswith(b"c6 OK")
    client.close()


def test_starttls_discards_pipelined_plaintext(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.plain_port)
    client.send(b"s1 STARTTLS\r\ns2 LOGIN alice@op-a.mssante.fr secret\r\n")
    assert client.line() == b"s1 OK Begin TLS negotiation now"
    assert client.buf == b""
    client.starttls(tls)
    lines = client.cmd(b"s3", b"CAPABILITY")
    assert not any(line.startswith(b"s2") for line in lines)
    assert b"AUTH=PLAIN" in caps_of(lines)
    assert client.cmd(b"s4", b"STARTTLS")[-1] == b"s4 BAD TLS is already active"
    assert client.cmd(b"s5", b"SELECT INBOX")[-1].startswith(b"s5 BAD")
    client.close()
