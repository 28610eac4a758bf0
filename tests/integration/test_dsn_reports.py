"""The DSN extension on submission, end to end: parameters in, reports out over IMAP.

A real smtplib client sends with RET/ENVID/NOTIFY/ORCPT; the success report is
read from the sender's INBOX with imaplib and parsed with Python's `email`;
the parameters of a message for another operator are read back from its
outbound queue row. MDNs (R23) sent by a mail client pass untouched.

Ref: RFC 3461 (DSN parameters), RFC 3464 (report fields), RFC 6522
(multipart/report), RFC 8098 (MDN); R22, R23.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.helpers import fetch_all, strip_trace
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, REAL_TRUST_LIST, Operator, make_operator, serving

TRUSTED_REMOTE = "dr.y@mssante.apicrypt.org"
BODY_MARKER = "Corps confidentiel 7781"


def _send(op: Operator, sender: str, rcpts: list[tuple[str, list[str]]], message: bytes,
          mail_options: list[str], login: str | None = None) -> list[tuple[int, bytes]]:
    """One transaction; every reply (MAIL, each RCPT, DATA) as (code, text)."""
    with submission(op.ports["submission"], op.client_context()) as c:
        c.login(login or sender, PASSWORD)
        replies = [c.mail(sender, mail_options)]
        for rcpt, options in rcpts:
            replies.append(c.rcpt(rcpt, options))
        if all(code == 250 for code, _ in replies):
            replies.append(c.data(message))
        return replies


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _status_groups(report: EmailMessage) -> list[EmailMessage]:
    """The field groups of the message/delivery-status part (per message, per recipient)."""
    part = report.get_payload()[1]  # type: ignore[index]
    assert part.get_content_type() == "message/delivery-status"
    return list(part.get_payload())


async def test_success_report_with_envid_orcpt_and_headers_only(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sent = simple_message(alice, bob, "Compte rendu", BODY_MARKER + "\n")
    replies = await asyncio.to_thread(
        _send, operator, alice, [(bob, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b@x"])], sent,
        ["RET=HDRS", "ENVID=QQ314159"])
    assert [code for code, _ in replies] == [250, 250, 250]

    delivered = await fetch_all(operator, bob)
    assert [strip_trace(m)[1] for m in delivered.values()] == [sent]
    reports = await fetch_all(operator, alice)
    assert len(reports) == 1
    raw = next(iter(reports.values()))
    assert raw.startswith(b"Return-Path: <>\r\n")
    report = _parse(strip_trace(raw)[1])
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["Auto-Submitted"] == "auto-replied"
    human, _status, returned = report.get_payload()  # type: ignore[misc]
    text_part = human.get_content()
    assert "remis" in text_part and "delivered" in text_part and bob in text_part
    per_message, per_rcpt = _status_groups(report)
    assert per_message["Original-Envelope-Id"] == "QQ314159"
    assert per_message["Reporting-MTA"] == "dns; localhost"
    assert per_rcpt["Original-Recipient"] == "rfc822;b@x"
    assert per_rcpt["Final-Recipient"] == f"rfc822; {bob}"
    assert per_rcpt["Action"] == "delivered"
    assert per_rcpt["Status"] == "2.0.0"
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: Compte rendu" in returned.get_payload(decode=True)
    assert BODY_MARKER.encode() not in raw  # RET=HDRS: the body is never returned
    audited = [d for d in await operator.audit_rows("delivery.local") if d.get("report")]
    assert [(d["report"], d["from"]) for d in audited] == [("delivered", "")]


async def test_ret_full_returns_the_message_and_keeps_envid_case(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sent = simple_message(alice, bob, "Full", BODY_MARKER + "\n")
    await asyncio.to_thread(_send, operator, alice, [(bob, ["notify=success"])], sent,
                            ["ret=full", "ENVID=MiXed+2Bcase"])
    report = _parse(strip_trace(next(iter((await fetch_all(operator, alice)).values())))[1])
    per_message, _ = _status_groups(report)
    assert per_message["Original-Envelope-Id"] == "MiXed+case"  # xtext decoded, case kept
    returned = report.get_payload()[2]  # type: ignore[index]
    assert returned.get_content_type() == "message/rfc822"
    assert BODY_MARKER in returned.get_payload()[0].get_content()


async def test_no_report_without_notify_success(operator: Operator) -> None:
    alice, bob, carol = (await operator.add_bal("alice"), await operator.add_bal("bob"),
                         await operator.add_bal("carol"))
    sent = simple_message(alice, bob, "None")
    replies = await asyncio.to_thread(
        _send, operator, alice, [(bob, ["NOTIFY=NEVER"]), (carol, ["NOTIFY=FAILURE,DELAY"])],
        sent, [])
    assert [code for code, _ in replies] == [250, 250, 250, 250]
    await asyncio.to_thread(_send, operator, alice, [(bob, [])], sent, ["RET=HDRS"])
    assert len(await fetch_all(operator, bob)) == 2
    assert await fetch_all(operator, alice) == {}


def _mdn(reporter: str, to: str) -> bytes:
    """A read receipt as a mail client writes it (RFC 8098), with an 8-bit text part."""
    return (
        f"From: {reporter}\r\nTo: {to}\r\nSubject: =?utf-8?q?Lu_=3A_R=C3=A9sultats?=\r\n"
        "Message-ID: <mdn-1@client.test>\r\nMIME-Version: 1.0\r\n"
        "Disposition-Notification-To: " + reporter + "\r\n"
        "Original-Recipient: rfc822;" + reporter + "\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification;\r\n'
        '\tboundary="mdn-b"\r\n\r\n'
        "--mdn-b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Le message a \xe9t\xe9 affich\xe9.\r\n"
        "--mdn-b\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Reporting-UA: client.test; Thunderbird\r\n"
        f"Original-Recipient: rfc822;{reporter}\r\nFinal-Recipient: rfc822;{reporter}\r\n"
        "Original-Message-ID: <orig-1@client.test>\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n"
        "--mdn-b--\r\n").encode("utf-8")


async def test_mdn_from_null_sender_reaches_sender_unchanged(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    mdn = _mdn(bob, alice)
    # B's client sends the receipt with the null sender; it asks for a success report,
    # which a message from the null sender never gets (RFC 3461 6.2).
    replies = await asyncio.to_thread(_send, operator, "", [(alice, ["NOTIFY=SUCCESS"])], mdn,
                                      ["RET=FULL"], login=bob)
    assert [code for code, _ in replies] == [250, 250, 250]
    received = await fetch_all(operator, alice)
    assert [strip_trace(m) for m in received.values()] == [([b"Return-Path", b"Received"], mdn)]
    assert await fetch_all(operator, bob) == {}


async def test_mdn_request_headers_pass_untouched(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sent = (f"From: {alice}\r\nTo: {bob}\r\nSubject: Demande d'accuse\r\n"
            "Message-ID: <orig-1@client.test>\r\n"
            f"Disposition-Notification-To: {alice}\r\nOriginal-Recipient: rfc822;{bob}\r\n"
            f"Return-Receipt-To: {alice}\r\n\r\nBonjour\r\n").encode()
    await asyncio.to_thread(_send, operator, alice, [(bob, [])], sent, [])
    assert [strip_trace(m)[1] for m in (await fetch_all(operator, bob)).values()] == [sent]


def _ehlo_and(op: Operator, commands: list[str]) -> tuple[str, list[tuple[int, bytes]]]:
    alice = next(iter(op.bals))
    with submission(op.ports["submission"], op.client_context()) as c:
        features = c.ehlo_resp.decode() if c.ehlo_resp else ""
        c.login(alice, PASSWORD)
        out = []
        for command in commands:
            out.append(c.docmd(command))
            c.rset()
        return features, out


async def test_extensions_advertised_and_malformed_values_refused(operator: Operator) -> None:
    alice = await operator.add_bal("alice")
    bob = await operator.add_bal("bob")
    bad = [f"MAIL FROM:<{alice}> RET=BOGUS", f"MAIL FROM:<{alice}> ENVID=a+zz",
           f"MAIL FROM:<{alice}> ENVID={'x' * 101}", f"MAIL FROM:<{alice}> RET=HDRS RET=FULL",
           f"MAIL FROM:<{alice}> ENVID", f"MAIL FROM:<{alice}> ENVID=a=b"]
    features, replies = await asyncio.to_thread(_ehlo_and, operator, bad)
    advertised = {line.split(" ")[0].upper() for line in features.splitlines()[1:]}
    assert {"DSN", "ENHANCEDSTATUSCODES", "PIPELINING", "8BITMIME", "SMTPUTF8",
            "SIZE"} <= advertised
    assert [(code, msg.split(b" ")[0]) for code, msg in replies] == [(501, b"5.5.4")] * len(bad)

    def rcpts() -> list[tuple[int, bytes]]:
        with submission(operator.ports["submission"], operator.client_context()) as c:
            c.login(alice, PASSWORD)
            assert c.mail(alice)[0] == 250
            return [c.rcpt(bob, opts) for opts in (
                ["NOTIFY=NEVER,SUCCESS"], ["NOTIFY=SOMETIMES"], ["ORCPT=b@x"],
                ["ORCPT=rfc822;a+4"], ["NOTIFY=SUCCESS", "NOTIFY=FAILURE"],
                ["NOTIFY=SUCCESS,SUCCESS"], ["NOTIFY=SUCCESS", "ORCPT=rfc822;b+40x"])]
    got = await asyncio.to_thread(rcpts)
    assert [(code, msg.split(b" ")[0]) for code, msg in got] == (
        [(501, b"5.5.4")] * 6 + [(250, b"2.1.5")])

    def utf8() -> list[tuple[int, bytes]]:
        """SMTPUTF8 is offered, so arguments are read as UTF-8: invalid UTF-8 is refused;
        replies written by aiosmtpd carry an enhanced code."""
        with submission(operator.ports["submission"], operator.client_context()) as c:
            c.login(alice, PASSWORD)
            out = []
            for line in (b"NOOP", b"RCPT TO:<x@op-a.mssante.fr>",
                         f"MAIL FROM:<{alice}> SMTPUTF8".encode(),
                         b"RCPT TO:<caf\xc3(@op-a.mssante.fr>",
                         "RCPT TO:<café@op-a.mssante.fr>".encode()):
                c.send(line + b"\r\n")
                out.append(c.getreply())
            return out
    noop, early, mail_reply, invalid, unknown = await asyncio.to_thread(utf8)
    # ENHANCEDSTATUSCODES: aiosmtpd's own replies carry one too
    assert (noop, early) == ((250, b"2.0.0 OK"), (503, b"5.5.1 Error: need MAIL command"))
    assert mail_reply[0] == 250
    assert (invalid[0], invalid[1].split(b" ")[0]) == (501, b"5.5.2")
    assert (unknown[0], unknown[1].split(b" ")[0]) == (550, b"5.1.1")


@pytest.fixture
async def trusted(tmp_path: Path) -> AsyncIterator[Operator]:
    """An operator with the real trust list, so a remote MSSanté domain is accepted."""
    async with serving(await make_operator(tmp_path)) as op:
        await op.import_trust_list(REAL_TRUST_LIST.read_bytes())
        yield op


async def test_parameters_kept_on_the_outbound_queue_row(trusted: Operator) -> None:
    alice = await trusted.add_bal("alice")
    sent = simple_message(alice, TRUSTED_REMOTE, "Vers un autre operateur")
    replies = await asyncio.to_thread(
        _send, trusted, alice,
        [(TRUSTED_REMOTE, ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Dr.Y+2Bsuivi@x"])], sent,
        ["RET=HDRS", "ENVID=Dossier+2B42aB"])
    assert [code for code, _ in replies] == [250, 250, 250]
    async with trusted.running.services.db.read() as s:  # type: ignore[union-attr]
        row = (await s.execute(text(
            "SELECT dsn_ret, dsn_envid, dsn_recipients, mail_from FROM outbound_queue"))).one()
    assert row[0] == "HDRS" and row[1] == "Dossier+2B42aB" and row[3] == alice
    assert json.loads(row[2]) == {TRUSTED_REMOTE: {"notify": ["DELAY", "SUCCESS"],
                                                   "orcpt": "rfc822;Dr.Y+2Bsuivi@x"}}
    # A remote recipient's success is told by the next server, not here.
    assert await fetch_all(trusted, alice) == {}
