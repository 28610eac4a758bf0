"""What crosses between two operators on loopback stays as it was: an MDN (R23), an
8-bit body with UTF-8 addresses in its header (SMTPUTF8, 8BITMIME, never re-encoded),
and its DKIM signature, verified by the receiving MX (test DNS: B's key lookup
replaced by A's published record) and stated in `Authentication-Results`.

A peer without SMTPUTF8 (or 8BITMIME) is a minimal aiosmtpd server that passes the
relay's certificate checks: the sender gets a failure report, the peer nothing.

Ref: RFC 8098 (MDN); RFC 6531, RFC 6532, RFC 6152; RFC 6376; RFC 8601; R22, R23, R4.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import io
import json
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server import cli
from server import config as config_mod
from server.cli_dkim import load_signer
from tests.exchange_support import DOMAIN_A, DOMAIN_B, peer_context
from tests.integration.helpers import fetch_all, send, strip_trace
from tests.integration.test_dsn_reports import _mdn
from tests.integration.test_exchange import (
    ALICE,
    BOB,
    Pair,
    _empty,
    _inbox,
    _pair,
    _start,
    _wait_for,
    stop_pair,
)
from tests.peer_smtp import PeerMx, start_test_peer
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, Operator


def _submit(op: Operator, login: str, mail_from: str, rcpts: list[str], message: bytes,
            options: list[str]) -> None:
    with submission(op.ports["submission"], op.client_context()) as c:
        c.login(login, PASSWORD)
        c.sendmail(mail_from, rcpts, message, mail_options=options)


async def test_mdn_from_b_reaches_a_unchanged(pair: Pair) -> None:
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    mdn = _mdn(BOB, ALICE)
    await asyncio.to_thread(_submit, pair.b, BOB, "", [ALICE], mdn, ["BODY=8BITMIME"])
    stored = list((await _inbox(pair.a, ALICE, 1)).values())
    names, original = strip_trace(stored[0])
    assert original == mdn  # byte-identical apart from the trace fields
    assert names == [b"Return-Path", b"Received", b"Authentication-Results", b"Received"]
    assert stored[0].startswith(b"Return-Path: <>\r\n")
    assert await _wait_for(lambda: _empty(pair.b))
    assert await fetch_all(pair.b, BOB) == {}  # an MDN causes no report


UTF8_MESSAGE = (
    f"From: =?utf-8?q?Dr_=C3=89lodie?= <{ALICE}>\r\nTo: {BOB}\r\n"
    f"Cc: jérôme.müller@{DOMAIN_B}\r\nSubject: Compte rendu\r\n"
    "Message-ID: <utf8-1@client.test>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Résultats : hémoglobine glyquée à 6,1 %.\r\n").encode()


async def test_8bit_body_and_utf8_address_reach_b_byte_identical(pair: Pair) -> None:
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    await asyncio.to_thread(_submit, pair.a, ALICE, ALICE, [BOB], UTF8_MESSAGE,
                            ["SMTPUTF8", "BODY=8BITMIME"])
    stored = list((await _inbox(pair.b, BOB, 1)).values())
    names, original = strip_trace(stored[0])
    assert original == UTF8_MESSAGE
    assert names == [b"Return-Path", b"Received", b"Authentication-Results", b"Received"]
    assert await _wait_for(lambda: _empty(pair.a))

    def utf8_rcpt() -> tuple[int, bytes]:
        """B's MX reads a UTF-8 local part (SMTPUTF8) and judges it like any address."""
        ctx = peer_context(pair.b, pair.a.directory / "certs" / "server.pem",
                           pair.a.directory / "certs" / "server.key")
        with smtplib.SMTP("127.0.0.1", pair.b.ports["smtp"], timeout=20) as c:
            c.ehlo("peer.test")
            c.starttls(context=ctx)
            c.ehlo("peer.test")
            assert c.has_extn("smtputf8") and c.has_extn("8bitmime") and c.has_extn("dsn")
            assert c.mail(ALICE, ["SMTPUTF8", "BODY=8BITMIME"])[0] == 250
            c.command_encoding = "utf-8"
            return c.rcpt(f"jérôme.müller@{DOMAIN_B}")
    code, reply = await asyncio.to_thread(utf8_rcpt)
    assert (code, reply.split()[0]) == (550, b"5.1.1")  # unknown BAL, not a syntax error


@pytest.fixture
async def lacking(request: pytest.FixtureRequest,
                  tmp_path: Path) -> AsyncIterator[tuple[Pair, PeerMx]]:
    p = await _pair(tmp_path)
    peer = await start_test_peer(p.pki, p.b.cfg.listeners.smtp.port, DOMAIN_B,
                                 without=(request.param,))
    try:
        yield p, peer
    finally:
        peer.stop()
        await stop_pair(p)


@pytest.mark.parametrize(("lacking", "message", "status"), [
    ("SMTPUTF8", UTF8_MESSAGE, "5.6.7"),
    ("8BITMIME", simple_message(ALICE, BOB).replace(b"Body", b"Corps \xc3\xa9"), "5.6.3"),
], indirect=["lacking"])
async def test_peer_without_the_extension_gives_a_failure_report(
        lacking: tuple[Pair, PeerMx], message: bytes, status: str) -> None:
    pair, peer = lacking
    await _start(pair.a, ALICE)
    await asyncio.to_thread(_submit, pair.a, ALICE, ALICE, [BOB], message,
                            ["SMTPUTF8", "BODY=8BITMIME"])
    raw = list((await _inbox(pair.a, ALICE, 1)).values())[0]
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report"
    group = report.get_payload()[1].get_payload()[1]
    assert (group["Final-Recipient"], group["Action"], group["Status"]) == (
        f"rfc822; {BOB}", "failed", status)
    assert group["Diagnostic-Code"].startswith("x-mss; the receiving server does not accept")
    assert peer.mails == [] and peer.received == []  # nothing sent, nothing mangled
    assert await _wait_for(lambda: _empty(pair.a))


async def _keygen(op: Operator) -> dict[str, bytes]:
    """`mss dkim keygen --json` for `op`: its published TXT records, by DNS name."""
    def run() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli.main(["--config", str(op.directory / "mss.toml"), "--json",
                             "dkim", "keygen"]) == 0
        return out.getvalue()
    lines = [json.loads(x) for x in (await asyncio.to_thread(run)).splitlines()]
    return {f"{x['name']}.": x["value"].encode() for x in lines}


def _test_dns(records: dict[str, bytes], asked: list[str]):  # type: ignore[no-untyped-def]
    async def resolve(name: str) -> bytes | None:
        asked.append(name)
        return records.get(name)
    return resolve


def _tampered(a: Operator, b: Operator, message: bytes) -> tuple[int, bytes]:
    """A peer client with A's certificate: signs with A's key, then alters the body."""
    signer = load_signer(a.cfg)
    assert signer is not None
    signed = signer.signature(message, DOMAIN_A) + message
    forged = signed.replace(b"Body", b"B0dy")
    ctx = peer_context(b, a.directory / "certs" / "server.pem",
                       a.directory / "certs" / "server.key")
    with smtplib.SMTP("127.0.0.1", b.ports["smtp"], timeout=20) as c:
        c.ehlo("peer.test")
        c.starttls(context=ctx)
        c.ehlo("peer.test")
        assert c.mail(ALICE)[0] == 250
        assert c.rcpt(BOB)[0] == 250
        return c.data(forged)


async def test_dkim_signed_by_a_verifies_on_b_and_tampering_fails(pair: Pair) -> None:
    records = await _keygen(pair.a)
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    assert pair.b.running is not None and pair.b.running.exchange is not None
    asked: list[str] = []
    pair.b.running.exchange.dkim.resolve = _test_dns(records, asked)
    sent = simple_message(ALICE, BOB, subject="signed")
    await send(pair.a, ALICE, [BOB], sent)
    stored = list((await _inbox(pair.b, BOB, 1)).values())[0]
    assert asked == [f"mss._domainkey.{DOMAIN_A}."]
    assert (b"Authentication-Results: localhost;\r\n\tdkim=pass header.d=op-a.mssante.fr "
            b"header.s=mss header.b=") in stored
    assert b"\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=op-a.mssante.fr;" \
        in stored
    assert stored.endswith(sent)  # signing prepends its field, changes nothing else

    tampered = simple_message(ALICE, BOB, subject="tampered").replace(b"test-1@", b"t-2@")
    code, _ = await asyncio.to_thread(_tampered, pair.a, pair.b, tampered)
    assert code == 250  # warn (the default): accepted, the header says fail
    inbox = await _inbox(pair.b, BOB, 2)
    forged = [m for m in inbox.values() if b"Subject: tampered" in m][0]
    assert b"Authentication-Results: localhost;\r\n\tdkim=fail" in forged
    warned = await pair.b.audit_rows("policy.would_refuse")
    assert [w["rule"] for w in warned] == ["dkim"]

    path = pair.b.directory / "mss.toml"
    path.write_text(path.read_text() + '\n[policy.modes]\ndkim = "enforce"\n')
    assert pair.b.running.exchange.reload(config_mod.load(path))
    code, reply = await asyncio.to_thread(_tampered, pair.a, pair.b, tampered)
    assert (code, reply.split()[0]) == (550, b"5.7.20")
    assert len(await fetch_all(pair.b, BOB)) == 2
    await send(pair.a, ALICE, [BOB], simple_message(ALICE, BOB, subject="signed again"))
    assert len(await _inbox(pair.b, BOB, 3)) == 3  # a good signature passes in enforce
