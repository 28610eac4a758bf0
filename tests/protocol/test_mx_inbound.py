"""The MX (`smtp` listener) as another operator sees it, driven with smtplib.

One operator (op-b) serves its MX with a CRL from the test CA; peers present
certificates of that CA (good, expired, revoked), of an unknown CA, none, or
one whose DN the trust list names for another domain.

Ref: R1, R3, R4, R7, R14, R28; RFC 3207; acceptance case 4 of the exchange.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from server import cli
from server.crl import cache_path
from tests.exchange_support import (
    DOMAIN_A,
    DOMAIN_B,
    Pki,
    add_bal,
    free_port,
    make_peer,
    peer_context,
    standard_trust_list,
)
from tests.integration.helpers import fetch_all, strip_trace
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, serving

SENDER = f"doc@{DOMAIN_A}"


@dataclass
class Setup:
    op: Operator
    pki: Pki
    certs: dict[str, tuple[Path, Path]]


@pytest.fixture
async def mx(tmp_path: Path) -> AsyncIterator[Setup]:
    pki = Pki.create(tmp_path / "pki")
    certs: dict[str, tuple[Path, Path]] = {}
    good = pki.issue("good", f"mss-server {DOMAIN_A}")
    revoked = pki.issue("revoked", f"mss-server {DOMAIN_A}")
    certs["good"], certs["revoked"] = good[:2], revoked[:2]
    certs["other_domain"] = pki.issue("other", "mss-server op-c.mssante.fr")[:2]
    certs["expired"] = pki.issue("expired", f"mss-server {DOMAIN_A}", expired=True)[:2]
    stranger = Pki.create(tmp_path / "stranger")
    certs["unknown_ca"] = stranger.issue("unknown", f"mss-server {DOMAIN_A}")[:2]
    crl = pki.crl([revoked[2]], tmp_path / "pki" / "ca.crl.pem")
    op = await make_peer(tmp_path, pki, DOMAIN_B, mx_port=free_port(), crl=crl)
    async with serving(op):
        await op.import_trust_list(standard_trust_list())
        yield Setup(op, pki, certs)


def _session(op: Operator, ctx: ssl.SSLContext | None) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", op.ports["smtp"], timeout=20)
    client.ehlo("peer.test")
    if ctx is not None:
        client.starttls(context=ctx)
        client.ehlo("peer.test")
    return client


def _mail(op: Operator, ctx: ssl.SSLContext | None, mail_from: str = SENDER,
          ) -> tuple[int, bytes]:
    with _session(op, ctx) as client:
        return client.mail(mail_from)


async def test_mail_before_starttls_gets_530_and_no_auth_is_offered(mx: Setup) -> None:
    def run() -> tuple[tuple[int, bytes], bytes, tuple[int, bytes], tuple[int, bytes]]:
        with _session(mx.op, None) as client:
            features = client.ehlo_resp or b""
            return client.mail(SENDER), features, client.docmd("AUTH", "PLAIN AAAA"), \
                client.rcpt(f"x@{DOMAIN_B}")

    (code, text), features, auth, rcpt = await asyncio.to_thread(run)
    assert (code, text.split()[0]) == (530, b"5.7.0")
    assert b"STARTTLS" in features and b"AUTH" not in features
    assert auth[0] == 530 and rcpt[0] == 530  # nothing but STARTTLS before TLS

    def after_tls() -> tuple[bytes, tuple[int, bytes]]:
        with _session(mx.op, peer_context(mx.op, *mx.certs["good"])) as client:
            return client.ehlo_resp or b"", client.docmd("AUTH", "PLAIN AAAA")

    features, auth = await asyncio.to_thread(after_tls)
    assert b"AUTH" not in features and auth[0] == 502


async def test_no_client_certificate_gets_530_at_mail(mx: Setup) -> None:
    code, text = await asyncio.to_thread(_mail, mx.op, peer_context(mx.op))
    assert (code, text.split()[0]) == (530, b"5.7.0")
    refused = await mx.op.audit_rows("smtp.refused")
    assert refused[-1]["stage"] == "MAIL" and "no client certificate" in refused[-1]["reason"]


async def test_dn_listed_for_another_domain_gets_550_5_7_1(mx: Setup) -> None:
    ctx = peer_context(mx.op, *mx.certs["other_domain"])
    code, text = await asyncio.to_thread(_mail, mx.op, ctx)
    assert (code, text.split()[0]) == (550, b"5.7.1")
    sessions = await mx.op.audit_rows("tls.session")
    assert sessions[-1]["peer_subject"] == "CN=localhost,O=mss-server op-c.mssante.fr,C=FR"


async def test_sender_domain_outside_the_trust_space_gets_550_5_7_1(mx: Setup) -> None:
    # R1: on the MX, a MAIL FROM domain neither local nor on the trust list is refused,
    # whatever certificate the peer presented.
    ctx = peer_context(mx.op, *mx.certs["good"])
    code, text = await asyncio.to_thread(_mail, mx.op, ctx, "doc@not-listed.example")
    assert (code, text.split()[0]) == (550, b"5.7.1")
    refused = await mx.op.audit_rows("smtp.refused")
    assert refused[-1]["stage"] == "MAIL" and "not in trust list" in refused[-1]["reason"]


@pytest.mark.parametrize(("which", "reason"), [
    ("expired", "certificate has expired"),
    ("revoked", "certificate revoked"),
    ("unknown_ca", "unable to get local issuer certificate"),
])
async def test_bad_certificates_fail_the_handshake_and_the_audit_names_why(
        mx: Setup, which: str, reason: str) -> None:
    ctx = peer_context(mx.op, *mx.certs[which])

    def run() -> str:
        try:
            _mail(mx.op, ctx)
        except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            return type(exc).__name__
        return "accepted"

    assert await asyncio.to_thread(run) != "accepted"
    failed = await _handshake_failures(mx.op)
    assert [(f["reason"], f["peer"]) for f in failed] == [(reason, "127.0.0.1")]
    assert await mx.op.audit_rows("tls.session") == []


async def _handshake_failures(op: Operator) -> list[dict]:
    """The `tls.handshake_failed` audit rows, once there is one (written as the
    session ends, after the client saw the refusal)."""
    for _ in range(100):
        failed = await op.audit_rows("tls.handshake_failed")
        if failed:
            return failed
        await asyncio.sleep(0.05)
    return []


async def test_listed_peer_delivers_to_active_bals_only(mx: Setup) -> None:
    op = mx.op
    alice = await add_bal(op, f"alice@{DOMAIN_B}")
    await add_bal(op, f"gone@{DOMAIN_B}")
    assert op.running is not None
    await op.running.services.accounts.set_status(f"gone@{DOMAIN_B}", "suspended")
    message = simple_message(SENDER, alice, subject="from op-a")
    ctx = peer_context(op, *mx.certs["good"])

    def run() -> list[tuple[int, bytes]]:
        with _session(op, ctx) as client:
            replies = [client.mail(SENDER), client.rcpt(f"nobody@{DOMAIN_B}"),
                       client.rcpt(f"gone@{DOMAIN_B}"), client.rcpt(f"x@{DOMAIN_A}"),
                       client.rcpt(alice)]
            replies.append(client.data(message))
            return replies

    replies = [(c, t.split()[0]) for c, t in await asyncio.to_thread(run)]
    assert replies == [(250, b"2.1.0"), (550, b"5.1.1"), (550, b"5.2.1"), (550, b"5.7.1"),
                       (250, b"2.1.5"), (250, b"2.0.0")]
    stored = list((await fetch_all(op, alice)).values())
    assert len(stored) == 1
    names, original = strip_trace(stored[0])
    assert names == [b"Return-Path", b"Received", b"Authentication-Results"]
    assert original == message
    assert b"Authentication-Results: localhost;\r\n\tdkim=none\r\n" in stored[0]
    assert b"with ESMTPS" in stored[0]
    # The MX's session (every listener audits its TLS sessions: imaps read the message).
    session = [r for r in await op.audit_rows("tls.session") if r["listener"] == "smtp"][-1]
    assert session["peer_subject"] == f"CN=localhost,O=mss-server {DOMAIN_A},C=FR"
    assert session["protocol"] in ("TLSv1.2", "TLSv1.3") and session["cipher"]
    txn = (await op.audit_rows("smtp.transaction"))[-1]
    assert txn["to"] == [alice] and txn["code"] == 250


async def _job(op: Operator, name: str) -> int:
    args = ["--config", str(op.directory / "mss.toml"), "jobs", "run", name]
    return await asyncio.to_thread(cli.main, args)


async def test_crl_refresh_keeps_the_last_good_crl_and_the_mx_applies_a_new_one(
        mx: Setup, tmp_path: Path) -> None:
    op, source = mx.op, tmp_path / "pki" / "ca.crl.pem"
    cached = cache_path(op.cfg, str(source))
    first = cached.read_bytes()  # refreshed at start
    good = peer_context(op, *mx.certs["good"])
    assert (await asyncio.to_thread(_mail, op, good))[0] == 250
    source.write_bytes(b"not a CRL")
    assert await _job(op, "crl-refresh") == 1
    assert cached.read_bytes() == first
    stranger = Pki.create(tmp_path / "stranger-crl")
    stranger.crl([], source)  # well formed, but not signed by a CA of tls.ca_bundle
    assert await _job(op, "crl-refresh") == 1
    mx.pki.crl([], source, next_update=-timedelta(hours=1))  # past its nextUpdate
    assert await _job(op, "crl-refresh") == 1
    assert cached.read_bytes() == first
    assert (await asyncio.to_thread(_mail, op, good))[0] == 250  # the last good CRL holds
    good_cert = x509.load_pem_x509_certificate(mx.certs["good"][0].read_bytes())
    revoked = x509.load_pem_x509_certificate(mx.certs["revoked"][0].read_bytes())
    mx.pki.crl([revoked, good_cert], source)  # now "good" is revoked too
    assert await _job(op, "crl-refresh") == 0
    assert cached.read_bytes() != first

    def refused() -> bool:
        try:
            _mail(op, good)
        except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError):
            return True
        return False

    for _ in range(100):  # the running MX rebuilds its context within CRL_WATCH_SECONDS
        if await asyncio.to_thread(refused):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the new CRL was not applied")
    failed = await _handshake_failures(op)
    assert failed[-1]["reason"] == "certificate revoked"


async def test_authentication_results_forged_in_our_name_are_removed_others_kept(
        mx: Setup) -> None:
    """RFC 8601 5: a field naming our host (any case, folded) written by the sender is
    gone from the stored message; another host's field and the body are kept as sent."""
    op = mx.op
    alice = await add_bal(op, f"alice@{DOMAIN_B}")
    other = b"Authentication-Results: mx.op-a.mssante.fr; dkim=pass header.d=op-a\r\n"
    forged = (b"Authentication-Results: LocalHost;\r\n\tdkim=pass header.d=op-a.mssante.fr"
              b"\r\n\theader.s=mss\r\n")
    body_line = b"Authentication-Results: localhost; dkim=pass\r\n"
    plain = simple_message(SENDER, alice, subject="claims") + body_line
    first_line = plain.index(b"\r\n") + 2
    sent = plain[:first_line] + forged + other + plain[first_line:]
    ctx = peer_context(op, *mx.certs["good"])

    def run() -> tuple[int, bytes]:
        with _session(op, ctx) as client:
            client.mail(SENDER)
            client.rcpt(alice)
            return client.data(sent)

    assert (await asyncio.to_thread(run))[0] == 250
    stored = list((await fetch_all(op, alice)).values())
    assert len(stored) == 1
    names, original = strip_trace(stored[0])
    assert names == [b"Return-Path", b"Received", b"Authentication-Results"]
    assert original == plain[:first_line] + other + plain[first_line:]
    header = stored[0][:stored[0].index(b"\r\n\r\n")]
    assert header.lower().count(b"authentication-results: localhost;") == 1  # ours
    assert b"Authentication-Results: localhost;\r\n\tdkim=none\r\n" in header
    assert stored[0].endswith(body_line)
