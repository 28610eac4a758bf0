"""Two operators on loopback, one test CA: mail goes from one to the other through
their MX ports over verified TLS, waits while the peer is away, and is never sent to a
peer whose certificate is not the one the trust list names.

Ref: R4, R5, R7; RFC 5321 4.5.4.1, 6.1; acceptance cases 1-3 of the exchange.
"""

from __future__ import annotations

import asyncio
import email
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from server import cli
from tests.exchange_support import (
    DOMAIN_A,
    DOMAIN_B,
    Pki,
    add_bal,
    free_port,
    make_peer,
    standard_trust_list,
)
from tests.integration.helpers import fetch_all, send, strip_trace
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, drop_pg_database

ALICE, BOB = f"alice@{DOMAIN_A}", f"bob@{DOMAIN_B}"


@dataclass
class Pair:
    a: Operator
    b: Operator
    pki: Pki


def _relay_toml(peer_domain: str, peer_port: int, retry_base: int = 1) -> str:
    return (f'transport = {{ "{peer_domain}" = "127.0.0.1:{peer_port}" }}\n'
            f"retry_base = {retry_base}\nretry_max = 2\n")


async def stop_pair(p: Pair) -> None:
    """Stop both operators and drop their PostgreSQL databases, if any."""
    for op in (p.a, p.b):
        await op.stop()
        if op.pg_name:
            await drop_pg_database(op.pg_name)


async def _pair(tmp_path: Path, retry_base: int = 1) -> Pair:
    pki = Pki.create(tmp_path / "pki")
    port_a, port_b = free_port(), free_port()
    a = await make_peer(tmp_path, pki, DOMAIN_A, mx_port=port_a,
                        relay=_relay_toml(DOMAIN_B, port_b, retry_base))
    b = await make_peer(tmp_path, pki, DOMAIN_B, mx_port=port_b,
                        relay=_relay_toml(DOMAIN_A, port_a, retry_base))
    return Pair(a, b, pki)


async def _start(op: Operator, bal: str | None = None) -> None:
    await op.start()
    await op.import_trust_list(standard_trust_list())
    if bal is not None:
        await add_bal(op, bal)


async def _queue_rows(op: Operator) -> list[tuple[int, str, int]]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        rows = (await s.execute(text(
            "SELECT id, recipients, attempts FROM outbound_queue ORDER BY id"))).all()
    return [(r[0], r[1], r[2]) for r in rows]


async def _wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await check()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def _inbox(op: Operator, user: str, count: int) -> dict[int, bytes]:
    async def check() -> dict[int, bytes] | None:
        found = await fetch_all(op, user)
        return found if len(found) >= count else None
    return await _wait_for(check)


async def test_a_to_b_and_b_to_a_arrive_byte_identical(pair: Pair) -> None:
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    there = simple_message(ALICE, BOB, subject="A to B")
    back = simple_message(BOB, ALICE, subject="B to A").replace(b"test-1@", b"test-2@")
    await send(pair.a, ALICE, [BOB], there)
    await send(pair.b, BOB, [ALICE], back)
    for op, user, sent in ((pair.b, BOB, there), (pair.a, ALICE, back)):
        stored = list((await _inbox(op, user, 1)).values())
        assert len(stored) == 1
        names, original = strip_trace(stored[0])
        assert original == sent
        assert names == [b"Return-Path", b"Received", b"Authentication-Results", b"Received"]
        assert b"with ESMTPS" in stored[0] and b"with ESMTPSA" in stored[0]
    for op, peer_domain in ((pair.a, DOMAIN_B), (pair.b, DOMAIN_A)):
        assert await _wait_for(lambda op=op: _empty(op))
        delivered = await op.audit_rows("relay.delivered")
        assert len(delivered) == 1 and delivered[0]["domain"] == peer_domain
        assert delivered[0]["peer_subject"] == f"CN=localhost,O=mss-server {peer_domain},C=FR"
        assert delivered[0]["protocol"] in ("TLSv1.2", "TLSv1.3")


async def _empty(op: Operator) -> bool:
    return await _queue_rows(op) == []


async def test_message_waits_while_b_is_stopped_and_is_delivered_once(pair: Pair) -> None:
    await _start(pair.b, BOB)
    await pair.b.stop()  # B exists, with its BAL, and is away
    await _start(pair.a, ALICE)
    await send(pair.a, ALICE, [BOB], simple_message(ALICE, BOB, subject="waits"))
    await _wait_for(lambda: _attempts(pair.a, 2))  # tried, deferred, tried again
    deferred = await pair.a.audit_rows("relay.deferred")
    assert deferred and "cannot connect" in deferred[0]["reason"]
    await pair.b.start()
    assert len(await _inbox(pair.b, BOB, 1)) == 1
    assert await _wait_for(lambda: _empty(pair.a))
    # A restarted while a second message waits: still delivered, once.
    await pair.b.stop()
    await send(pair.a, ALICE, [BOB], simple_message(ALICE, BOB, subject="waits again"))
    await _wait_for(lambda: _attempts(pair.a, 1))
    await pair.a.stop()
    await pair.b.start()
    await pair.a.start()
    inbox = await _inbox(pair.b, BOB, 2)
    await _wait_for(lambda: _empty(pair.a))
    await asyncio.sleep(2.5)  # past one more backoff: nothing is sent twice
    inbox = await fetch_all(pair.b, BOB)
    subjects = sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in inbox.values())
    assert subjects == [b"waits", b"waits again"]
    assert len(await pair.a.audit_rows("relay.delivered")) == 2


async def _attempts(op: Operator, at_least: int) -> bool:
    rows = await _queue_rows(op)
    return bool(rows) and rows[0][2] >= at_least


async def test_permanent_refusal_gives_the_sender_a_notice_at_once(pair: Pair) -> None:
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    nobody = f"nobody@{DOMAIN_B}"
    sent = simple_message(ALICE, nobody, subject="to nobody")
    await send(pair.a, ALICE, [BOB, nobody], sent)
    assert len(await _inbox(pair.b, BOB, 1)) == 1
    notice = list((await _inbox(pair.a, ALICE, 1)).values())[0]
    report = email.message_from_bytes(notice)
    assert report.get_content_type() == "multipart/report" and report["Return-Path"] == "<>"
    groups = report.get_payload()[1].get_payload()
    assert [(g["Final-Recipient"], g["Action"], g["Status"]) for g in groups[1:]] == [
        (f"rfc822; {nobody}", "failed", "5.1.1")]
    assert groups[1]["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    returned = report.get_payload()[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: to nobody" in notice and b"Body" not in notice.split(b"rfc822-headers")[1]
    assert await _wait_for(lambda: _empty(pair.a))
    failed = await pair.a.audit_rows("relay.failed")
    assert [(f["to"], f["notice"]) for f in failed] == [(nobody, True)]


def _replace_certificate(op: Operator, cert: Path, key: Path) -> None:
    certs = op.directory / "certs"
    shutil.copyfile(cert, certs / "server.pem")
    shutil.copyfile(key, certs / "server.key")


async def _run_job(op: Operator, name: str, now: datetime) -> int:
    args = ["--config", str(op.directory / "mss.toml"), "jobs", "run", name,
            "--now", now.isoformat()]
    return await asyncio.to_thread(cli.main, args)


@pytest.mark.parametrize("which", ["unknown_ca", "expired", "other_domain", "no_starttls"])
async def test_b_with_a_bad_certificate_never_gets_the_message(tmp_path: Path,
                                                               which: str) -> None:
    p = await _pair(tmp_path, retry_base=3600)
    try:
        await _bad_peer(p, which, tmp_path)
    finally:
        await stop_pair(p)


async def _bad_peer(p: Pair, which: str, tmp_path: Path) -> None:
    a_org = f"mss-server {DOMAIN_B}"
    if which == "unknown_ca":
        stranger = Pki.create(tmp_path / "stranger")
        cert, key, _ = stranger.issue("b", a_org)
    elif which == "expired":
        cert, key, _ = p.pki.issue("b", a_org, expired=True)
    elif which == "other_domain":
        cert, key, _ = p.pki.issue("b", "mss-server op-c.mssante.fr")
    if which != "no_starttls":
        _replace_certificate(p.b, cert, key)
    await _start(p.b, BOB)
    plain = await _plain_peer(p) if which == "no_starttls" else None
    try:
        await _never_sent(p, which)
    finally:
        if plain is not None:
            plain[0].stop()
    assert plain is None or plain[1] == []  # the clear-text peer never saw a MAIL


async def _never_sent(p: Pair, which: str) -> None:
    await _start(p.a, ALICE)
    await send(p.a, ALICE, [BOB], simple_message(ALICE, BOB, subject="must not leave"))
    deferred = await _wait_for(lambda: p.a.audit_rows("relay.deferred"))
    expected = {"unknown_ca": "unable to get local issuer certificate",
                "expired": "certificate has expired",
                "other_domain": "is not listed for op-b.mssante.fr",
                "no_starttls": "does not offer STARTTLS"}[which]
    assert expected in deferred[0]["reason"]
    assert await p.b.audit_rows("smtp.transaction") == []
    assert await p.b.audit_rows("smtp.refused") == []  # no MAIL ever reached B
    assert await _stored(p.b) == 0
    created = datetime.now(UTC)
    assert await _run_job(p.a, "queue-expire", created + timedelta(days=4)) == 0
    assert len(await _queue_rows(p.a)) == 1  # still within the lifetime
    assert await _run_job(p.a, "queue-expire", created + timedelta(days=5, minutes=1)) == 0
    notice = list((await _inbox(p.a, ALICE, 1)).values())[0]
    groups = email.message_from_bytes(notice).get_payload()[1].get_payload()
    assert [(g["Final-Recipient"], g["Action"], g["Status"]) for g in groups[1:]] == [
        (f"rfc822; {BOB}", "failed", "4.4.7")]
    assert groups[1]["Diagnostic-Code"] == "x-mss; delivery time expired, no further attempt"
    assert await _queue_rows(p.a) == []
    assert await _run_job(p.a, "queue-expire", created + timedelta(days=6)) == 0
    assert len(await fetch_all(p.a, ALICE)) == 1  # idempotent: one notice
    assert await _stored(p.b) == 0


async def _stored(op: Operator) -> int:
    """Messages in the operator's mailboxes (read from its database: its IMAP listener
    presents the bad certificate under test)."""
    assert op.running is not None
    async with op.running.services.db.read() as s:
        return int((await s.execute(text("SELECT count(*) FROM mailbox_entry"))).scalar_one())


async def _plain_peer(p: Pair) -> tuple[Controller, list[str]]:
    """B's MX replaced by an SMTP server without STARTTLS on the same port."""
    assert p.b.running is not None and p.b.running.exchange is not None
    mx = p.b.running.exchange.mx
    assert mx is not None
    port = mx.port
    mx.close()
    await mx.shutdown(1.0)
    received: list[str] = []

    class Sink:
        async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            received.append(address)
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    p.b.running.exchange.mx = None
    return controller, received


async def _mss(op: Operator, *args: str) -> tuple[int, str]:
    """`mss --config ... ARGS` in-process; (exit code, stdout)."""
    import contextlib
    import io

    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["--config", str(op.directory / "mss.toml"), *args])
        return code, out.getvalue()
    return await asyncio.to_thread(run)


async def test_queue_verbs_list_show_retry_delete(tmp_path: Path) -> None:
    import json

    p = await _pair(tmp_path, retry_base=3600)  # B never runs: the message waits
    try:
        await _start(p.a, ALICE)
        await send(p.a, ALICE, [BOB], simple_message(ALICE, BOB, subject="queued"))
        await _wait_for(lambda: p.a.audit_rows("relay.deferred"))
        code, out = await _mss(p.a, "--json", "queue", "list")
        rows = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and len(rows) == 1
        row = rows[0]
        assert (row["domain"], row["from"], row["recipients"], row["attempts"]) == (
            DOMAIN_B, ALICE, BOB, 1)
        assert "cannot connect" in row["last_error"] and row["sending"] is False
        assert b"queued" not in out.encode()  # no content in the listing
        code, out = await _mss(p.a, "--json", "queue", "show", str(row["id"]))
        assert code == 0 and json.loads(out)["id"] == row["id"]
        assert (await _mss(p.a, "queue", "show", "999"))[0] == 1
        assert (await _mss(p.a, "queue", "delete", "999"))[0] == 1
        code, _ = await _mss(p.a, "queue", "retry", str(row["id"]))
        assert code == 0
        await _wait_for(lambda: _attempts(p.a, 2))  # tried again at once
        await _wait_for(lambda: _not_sending(p.a))
        code, _ = await _mss(p.a, "queue", "delete", str(row["id"]))
        assert code == 0
        assert await _queue_rows(p.a) == []
        deleted = await p.a.audit_rows("queue.deleted")
        assert deleted == [{"queue_id": row["id"], "domain": DOMAIN_B, "to": [BOB]}]
        assert (await _mss(p.a, "queue", "list"))[1] == ""
    finally:
        await stop_pair(p)


async def _not_sending(op: Operator) -> bool:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        rows = (await s.execute(text("SELECT claimed_until FROM outbound_queue"))).all()
    return all(r[0] is None for r in rows)
