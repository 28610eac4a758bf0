"""The gateway's DATA reader against smtplib and raw writes over submission.

Checks what arrives over IMAP (byte-identical after the gateway's trace
headers), the end of data wherever the writes cut it, a command pipelined
after the data, the line and size limits answered after the final `.`, and
a client that leaves during DATA.

Ref: RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6, 4.2.5; RFC 2920.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import smtplib
import time

import pytest

from tests.protocol.imap_support import imaps
from tests.protocol.smtp_client import submission
from tests.support import PASSWORD, Operator

SMALL = "[limits]\nmax_message_size = 200000\npatient_max_message_size = 100000\n"


def message(sender: str, to: str, body: bytes, mid: str = "m-1") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: x\r\nMessage-ID: <{mid}@client.test>\r\n"
            "\r\n").encode() + body


def stuffed(content: bytes) -> bytes:
    """`content` (ending with CRLF) as sent after 354, with its final `.<CRLF>`."""
    return (b"\r\n" + content).replace(b"\r\n.", b"\r\n..")[2:] + b".\r\n"


def opened(op: Operator, login: str) -> smtplib.SMTP:
    client = submission(op.ports["submission"], op.client_context())
    client.login(login, PASSWORD)
    return client


def begin(client: smtplib.SMTP, sender: str, rcpt: str) -> None:
    assert client.mail(sender)[0] == 250 and client.rcpt(rcpt)[0] == 250
    assert client.docmd("DATA")[0] == 354


def fetch_all(op: Operator, user: str) -> list[bytes]:
    client = imaps(op, user)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.fetch("1:*", "(BODY.PEEK[])")
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        client.logout()


def assert_delivered(stored: bytes, sent: bytes) -> None:
    """Byte-identical after the trace headers the gateway prepends."""
    assert stored.endswith(sent)
    trace = stored[:-len(sent)]
    assert trace.startswith(b"Return-Path: ") and b"\r\nReceived: " in trace


async def test_dot_stuffed_lines_arrive_byte_identical(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sent = message(alice, bob, b".lead\r\n..\r\n.\r\n...x\r\n. \r\nmid.dle.\r\n.\r\n\r\n.")
    sent += b"\r\n"

    def run() -> tuple[int, bytes]:
        with opened(operator, alice) as c:
            begin(c, alice, bob)
            c.send(stuffed(sent))
            return c.getreply()

    assert (await asyncio.to_thread(run))[0] == 250
    [stored] = await asyncio.to_thread(fetch_all, operator, bob)
    assert_delivered(stored, sent)


async def test_data_of_only_the_final_dot(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")

    def run() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with opened(operator, alice) as c:
            begin(c, alice, bob)
            c.send(b".\r\n")
            return c.getreply(), c.noop()

    data, noop = await asyncio.to_thread(run)
    assert data[0] in (250, 550, 554) and noop[0] == 250
    [row] = await operator.audit_rows("smtp.transaction")
    assert row["size"] == 0 and row["code"] == data[0]


async def test_end_split_across_writes(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sent = message(alice, bob, b"one\r\n.two\r\n")
    wire = stuffed(sent)

    def run() -> tuple[int, bytes]:
        with opened(operator, alice) as c:
            begin(c, alice, bob)
            c.send(wire[:-3] + b".")
            time.sleep(0.3)
            c.send(b"\r")
            time.sleep(0.3)
            c.send(b"\n")
            return c.getreply()

    assert (await asyncio.to_thread(run))[0] == 250
    [stored] = await asyncio.to_thread(fetch_all, operator, bob)
    assert_delivered(stored, sent)


async def test_command_pipelined_after_the_data_is_kept(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    first, second = message(alice, bob, b"first\r\n"), message(alice, bob, b"second\r\n", "m-2")

    def run() -> list[int]:
        with opened(operator, alice) as c:
            begin(c, alice, bob)
            c.send(stuffed(first) + f"MAIL FROM:<{alice}>\r\nRCPT TO:<{bob}>\r\nDATA\r\n".encode())
            codes = [c.getreply()[0] for _ in range(4)]
            c.send(stuffed(second) + b"NOOP\r\n")
            return codes + [c.getreply()[0], c.getreply()[0]]

    assert await asyncio.to_thread(run) == [250, 250, 250, 354, 250, 250]
    stored = await asyncio.to_thread(fetch_all, operator, bob)
    assert len(stored) == 2
    assert_delivered(stored[0], first)
    assert_delivered(stored[1], second)


async def test_line_of_1000_octets_accepted_1001_refused(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    fits = message(alice, bob, b"A" * 998 + b"\r\n")
    too_long = message(alice, bob, b"ok\r\n" + b"B" * 999 + b"\r\nok\r\n", "m-2")

    def run() -> list[tuple[int, bytes]]:
        with opened(operator, alice) as c:
            replies = []
            for sent in (too_long, fits):
                begin(c, alice, bob)
                c.send(stuffed(sent))
                replies.append(c.getreply())
            return replies

    refused, accepted = await asyncio.to_thread(run)
    assert refused[0] == 500 and refused[1].startswith(b"5.5.2")
    assert accepted[0] == 250
    [stored] = await asyncio.to_thread(fetch_all, operator, bob)
    assert_delivered(stored, fits)


async def test_over_size_refused_after_the_data_then_the_session_goes_on(
        scenario) -> None:  # noqa: ANN001
    async with scenario(SMALL, trust_list=False) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        big = message(alice, bob, (b"C" * 76 + b"\r\n") * 3000)
        small = message(alice, bob, b"small\r\n", "m-2")

        def run() -> list[tuple[int, bytes]]:
            with opened(op, alice) as c:
                return [_data(c, alice, bob, m) for m in (small, big, small)]

        replies = await asyncio.to_thread(run)
        assert len(stuffed(big)) > 200_000 + 3
        assert replies[0][0] == 250 and replies[2][0] == 250
        assert replies[1][0] == 552 and replies[1][1].startswith(b"5.3.4")
        assert len(await asyncio.to_thread(fetch_all, op, bob)) == 2


def _data(c: smtplib.SMTP, sender: str, rcpt: str, sent: bytes) -> tuple[int, bytes]:
    begin(c, sender, rcpt)
    c.send(stuffed(sent))
    return c.getreply()


async def test_client_leaving_during_data_logs_no_error(
        operator: Operator, caplog: pytest.LogCaptureFixture) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")

    def leave() -> None:
        c = opened(operator, alice)
        begin(c, alice, bob)
        c.send(message(alice, bob, b"D" * 70 + b"\r\n") * 1000)
        c.sock.close()

    await asyncio.to_thread(leave)
    await asyncio.sleep(0.5)
    sent = message(alice, bob, b"after\r\n")

    def again() -> tuple[int, bytes]:
        with opened(operator, alice) as c:
            return _data(c, alice, bob, sent)

    assert (await asyncio.to_thread(again))[0] == 250
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    [stored] = await asyncio.to_thread(fetch_all, operator, bob)
    assert_delivered(stored, sent)


async def test_25_mb_message_byte_identical_over_imap(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    raw = base64.encodebytes(os.urandom(19 * 1024 * 1024)).replace(b"\n", b"\r\n")
    sent = message(alice, bob, raw)
    assert len(sent) > 25 * 1024 * 1024

    def run() -> tuple[int, bytes]:
        with opened(operator, alice) as c:
            return _data(c, alice, bob, sent)

    assert (await asyncio.to_thread(run))[0] == 250
    [stored] = await asyncio.to_thread(fetch_all, operator, bob)
    assert_delivered(stored, sent)
