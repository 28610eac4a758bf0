"""Delivery reports across two operators on loopback (RFC 3461/3464, R22): failure on
a 550 from the peer, delay once, success reported back by the peer that advertises DSN,
"relayed" from us for a peer without DSN; none for NOTIFY=NEVER, none for a report.

Each report is read from the sender's INBOX over IMAP (imaplib) and parsed with
Python's `email`. The peer without DSN is a minimal aiosmtpd server with STARTTLS,
its certificate issued by the test CA with the DN the trust list names for B.

Ref: RFC 3461 4.1-4.4, 5.2, 6.2; RFC 3464 2; RFC 6522; R22.
"""

from __future__ import annotations

import asyncio
import email
import email.message
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.exchange_support import DOMAIN_A, DOMAIN_B, add_bal
from tests.integration.helpers import fetch_all
from tests.integration.test_exchange import (
    ALICE,
    BOB,
    Pair,
    _empty,
    _inbox,
    _pair,
    _queue_rows,
    _start,
    _wait_for,
    stop_pair,
)
from tests.peer_smtp import PeerMx, start_test_peer
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, Operator

NOBODY, NEVER = f"nobody@{DOMAIN_B}", f"never@{DOMAIN_B}"


def _send_dsn(op: Operator, mail_options: list[str], rcpts: list[tuple[str, list[str]]],
              message: bytes) -> None:
    """alice sends `message` on A's submission with DSN parameters (smtplib)."""
    with submission(op.ports["submission"], op.client_context()) as c:
        c.login(ALICE, PASSWORD)
        assert c.mail(ALICE, mail_options)[0] == 250
        for rcpt, options in rcpts:
            assert c.rcpt(rcpt, options)[0] == 250
        assert c.data(message)[0] == 250


def _report(raw: bytes) -> tuple[email.message.Message, list[email.message.Message]]:
    msg = email.message_from_bytes(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    status = msg.get_payload()[1]
    assert status.get_content_type() == "message/delivery-status"
    return msg, status.get_payload()


def _recipients(groups: list[email.message.Message]) -> list[tuple[str, str, str]]:
    return [(g["Final-Recipient"], g["Action"], g["Status"]) for g in groups[1:]]


async def test_failure_report_on_550_and_none_for_notify_never(pair: Pair) -> None:
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    sent = simple_message(ALICE, NOBODY, subject="refused", body="CORPS-SECRET\n")
    await asyncio.to_thread(_send_dsn, pair.a, ["RET=HDRS", "ENVID=QQ314159"], [
        (NOBODY, ["NOTIFY=FAILURE", f"ORCPT=rfc822;{NOBODY}"]), (NEVER, ["NOTIFY=NEVER"])],
        sent)
    raw = list((await _inbox(pair.a, ALICE, 1)).values())[0]
    msg, groups = _report(raw)
    assert msg["Return-Path"] == "<>" and msg["Auto-Submitted"] == "auto-replied"
    assert groups[0]["Original-Envelope-Id"] == "QQ314159"
    assert _recipients(groups) == [(f"rfc822; {NOBODY}", "failed", "5.1.1")]
    assert groups[1]["Original-Recipient"] == f"rfc822;{NOBODY}"
    assert groups[1]["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    assert groups[1]["Remote-MTA"] == "dns; 127.0.0.1"
    human = msg.get_payload()[0].get_payload(decode=True).decode()
    assert "n'a pas pu être remis" in human and "could not be delivered" in human
    assert msg.get_payload()[2].get_content_type() == "text/rfc822-headers"
    assert b"CORPS-SECRET" not in raw  # RET=HDRS
    assert await _wait_for(lambda: _empty(pair.a))
    failed = await pair.a.audit_rows("relay.failed")
    assert sorted((f["to"], f["notice"]) for f in failed) == [(NEVER, False), (NOBODY, True)]
    local = [r for r in await pair.a.audit_rows("delivery.local") if r.get("report")]
    assert [r["report"] for r in local] == ["failed"]
    await asyncio.sleep(2.0)  # the report itself caused nothing more
    assert len(await fetch_all(pair.a, ALICE)) == 1
    assert await _queue_rows(pair.a) == [] and await _queue_rows(pair.b) == []


async def test_success_report_comes_back_from_b_which_advertises_dsn(pair: Pair) -> None:
    await _start(pair.a, ALICE)
    await _start(pair.b, BOB)
    sent = simple_message(ALICE, BOB, subject="with receipt", body="CORPS-SECRET\n")
    await asyncio.to_thread(_send_dsn, pair.a, ["RET=HDRS", "ENVID=QQ314159"],
                            [(BOB, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Bob+40x"])], sent)
    assert len(await _inbox(pair.b, BOB, 1)) == 1
    raw = list((await _inbox(pair.a, ALICE, 1)).values())[0]
    msg, groups = _report(raw)
    assert groups[0]["Original-Envelope-Id"] == "QQ314159"  # passed on by A, kept by B
    assert _recipients(groups) == [(f"rfc822; {BOB}", "delivered", "2.0.0")]
    assert groups[1]["Original-Recipient"] == "rfc822;Bob@x"
    assert msg["Return-Path"] == "<>" and b"CORPS-SECRET" not in raw
    delivered = await pair.a.audit_rows("relay.delivered")
    assert [d["dsn_passed"] for d in delivered] == [True]  # B reports, A does not
    sent_back = await pair.b.audit_rows("relay.delivered")
    assert [(d["from"], d["to"]) for d in sent_back] == [("", ALICE)]
    await asyncio.sleep(2.0)  # no "relayed" report from A, no report about the report
    assert len(await fetch_all(pair.a, ALICE)) == 1
    assert len(await fetch_all(pair.b, BOB)) == 1
    assert await _queue_rows(pair.a) == [] and await _queue_rows(pair.b) == []


async def _age_queue(op: Operator, by: timedelta) -> None:
    """Make the queued message `by` older (its delay is what is tested, not the clock)."""
    assert op.running is not None
    async with op.running.services.db.write() as s:
        await s.execute(text("UPDATE outbound_queue SET created_at = :t"),
                        {"t": datetime.now(UTC) - by})


async def test_delay_report_once_when_notify_asks_for_it(pair: Pair) -> None:
    await _start(pair.a, ALICE)  # B never runs: every attempt is deferred
    carol = f"carol@{DOMAIN_B}"
    await asyncio.to_thread(_send_dsn, pair.a, ["ENVID=late-1"], [
        (BOB, ["NOTIFY=DELAY,FAILURE"]), (carol, ["NOTIFY=FAILURE"])],
        simple_message(ALICE, BOB, subject="late"))
    await _wait_for(lambda: pair.a.audit_rows("relay.deferred"))
    await asyncio.sleep(1.5)
    assert await fetch_all(pair.a, ALICE) == {}  # younger than [dsn] delay_after
    await _age_queue(pair.a, timedelta(hours=4, minutes=1))
    raw = list((await _inbox(pair.a, ALICE, 1)).values())[0]
    msg, groups = _report(raw)
    assert _recipients(groups) == [(f"rfc822; {BOB}", "delayed", "4.0.0")]
    assert groups[0]["Original-Envelope-Id"] == "late-1"
    assert groups[1]["Will-Retry-Until"] and "Diagnostic-Code" not in groups[1]
    human = msg.get_payload()[0].get_payload(decode=True).decode()
    assert "retardée" in human and "delayed" in human
    attempts = (await _queue_rows(pair.a))[0][2]
    await _wait_for(lambda: _attempts_past(pair.a, attempts + 2))
    assert len(await fetch_all(pair.a, ALICE)) == 1  # once
    assert pair.a.running is not None
    async with pair.a.running.services.db.read() as s:
        told = (await s.execute(text("SELECT dsn_delayed FROM outbound_queue"))).scalar_one()
    assert set(told.split("\n")) == {BOB, carol}  # carol did not ask: done with it too


async def _attempts_past(op: Operator, count: int) -> bool:
    rows = await _queue_rows(op)
    return bool(rows) and rows[0][2] >= count


@pytest.fixture
async def with_peer(tmp_path: Path) -> AsyncIterator[tuple[Pair, PeerMx]]:
    """Operator A, and in place of B's MX a minimal aiosmtpd peer without DSN."""
    p = await _pair(tmp_path)
    peer = await start_test_peer(p.pki, p.b.cfg.listeners.smtp.port, DOMAIN_B,
                                 without=("DSN",))
    try:
        yield p, peer
    finally:
        peer.stop()
        await stop_pair(p)


async def test_relayed_report_for_a_peer_without_dsn(with_peer: tuple[Pair, PeerMx]) -> None:
    pair, peer = with_peer
    await _start(pair.a, ALICE)
    await asyncio.to_thread(_send_dsn, pair.a, ["RET=FULL", "ENVID=QQ314159"],
                            [(BOB, ["NOTIFY=SUCCESS"])], simple_message(ALICE, BOB))
    raw = list((await _inbox(pair.a, ALICE, 1)).values())[0]
    msg, groups = _report(raw)
    assert _recipients(groups) == [(f"rfc822; {BOB}", "relayed", "2.0.0")]
    assert groups[1]["Remote-MTA"] == "dns; 127.0.0.1"
    assert msg.get_payload()[2].get_content_type() == "message/rfc822"  # RET=FULL
    assert [(m.mail_from, m.mail_options, m.rcpt_options) for m in peer.received] == [
        (ALICE, [], [[]])]  # no DSN parameter for a peer that did not offer DSN
    delivered = await pair.a.audit_rows("relay.delivered")
    assert [d["dsn_passed"] for d in delivered] == [False]


async def test_no_report_for_a_report_queued_by_a(pair: Pair) -> None:
    """A report queued for another operator (null sender) that fails gets no report."""
    await _start(pair.a, ALICE)
    await _start(pair.b)
    await add_bal(pair.a, f"dora@{DOMAIN_A}")
    report = (f"From: {ALICE}\r\nTo: {NOBODY}\r\nSubject: r\r\n"
              "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
              'report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n'
              "Content-Type: text/plain\r\n\r\nx\r\n--b\r\n"
              "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
              f"Final-Recipient: rfc822; {NOBODY}\r\nAction: failed\r\nStatus: 5.0.0\r\n"
              "\r\n--b--\r\n").encode()

    def run() -> None:
        with submission(pair.a.ports["submission"], pair.a.client_context()) as c:
            c.login(ALICE, PASSWORD)
            assert c.mail("", [])[0] == 250
            assert c.rcpt(NOBODY, ["NOTIFY=FAILURE"])[0] == 250
            assert c.data(report)[0] == 250
    await asyncio.to_thread(run)
    failed = await _wait_for(lambda: pair.a.audit_rows("relay.failed"))
    assert [(f["to"], f["notice"]) for f in failed] == [(NOBODY, False)]
    assert await fetch_all(pair.a, ALICE) == {}
