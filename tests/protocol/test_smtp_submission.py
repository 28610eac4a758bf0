"""Submission listeners with a real smtplib client: TLS, AUTH, recipients, and no
`Authentication-Results` field in our name from a client.

Ref: RFC 3207, RFC 4954, RFC 8314; RFC 8601 5; R5, R8, R14 (T11).
"""

from __future__ import annotations

import asyncio
import base64
import smtplib

from tests.integration.helpers import fetch_all, send, strip_trace
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, Operator


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


async def test_auth_not_offered_nor_accepted_before_starttls(operator: Operator) -> None:
    await operator.add_bal("alice")

    def run() -> tuple[bool, tuple[int, bytes], tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", operator.ports["submission"], timeout=20) as c:
            c.ehlo("client.test")
            offered = c.has_extn("auth")
            auth = c.docmd("AUTH", "PLAIN " + _plain("alice@op-a.mssante.fr", PASSWORD))
            mail = c.docmd("MAIL", "FROM:<alice@op-a.mssante.fr>")
            return offered, auth, mail

    offered, auth, mail = await asyncio.to_thread(run)
    assert not offered
    assert auth[0] == 538 and auth[1].startswith(b"5.7.11")
    assert mail[0] == 530 and mail[1].startswith(b"5.7.0")


async def test_auth_after_starttls_and_wrong_password(operator: Operator) -> None:
    alice = await operator.add_bal("alice")

    def run() -> tuple[bool, int, bytes]:
        with submission(operator.ports["submission"], operator.client_context()) as c:
            offered = "PLAIN" in c.esmtp_features.get("auth", "")
            code, text = c.docmd("AUTH", "PLAIN " + _plain(alice, "not the password"))
            return offered, code, text

    offered, code, text = await asyncio.to_thread(run)
    assert offered
    assert (code, text[:5]) == (535, b"5.7.8")


async def test_unknown_local_recipient_is_550_511(operator: Operator) -> None:
    alice = await operator.add_bal("alice")

    def run() -> tuple[int, bytes]:
        with submission(operator.ports["submission"], operator.client_context()) as c:
            c.login(alice, PASSWORD)
            c.mail(alice)
            return c.rcpt("nobody@op-a.mssante.fr")

    code, text = await asyncio.to_thread(run)
    assert (code, text[:5]) == (550, b"5.1.1")


async def test_implicit_tls_submission_delivers(operator: Operator) -> None:
    alice = await operator.add_bal("alice")
    bob = await operator.add_bal("bob")
    msg = simple_message(alice, bob)

    def run() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP_SSL("127.0.0.1", operator.ports["submissions"], timeout=20,
                              context=operator.client_context()) as c:
            c.ehlo("client.test")
            assert "PLAIN" in c.esmtp_features.get("auth", "")
            c.login(alice, PASSWORD)
            return c.sendmail(alice, [bob], msg)

    refused = await asyncio.to_thread(run)
    assert refused == {}
    services = operator.running.services  # type: ignore[union-attr]
    folder = await services.mailbox.get_folder(operator.bals[bob].bal_id, "INBOX")
    assert folder is not None
    _, rows = await services.mailbox.snapshot(operator.bals[bob].bal_id, folder.id)
    assert [r.uid for r in rows] == [1]


async def test_authentication_results_in_our_name_from_a_client_are_removed(
        operator: Operator) -> None:
    """RFC 8601 5: a client cannot vouch for a message in our name (the host name is
    `localhost`); another host's field is kept and nothing is added (submission
    verifies nothing)."""
    alice = await operator.add_bal("alice")
    bob = await operator.add_bal("bob")
    plain = simple_message(alice, bob, subject="vouched")
    other = b"Authentication-Results: mx.op-c.mssante.fr 1; spf=pass\r\n"
    forged = b"Authentication-Results: (checked) localhost;\r\n dkim=pass header.d=bank\r\n"
    first_line = plain.index(b"\r\n") + 2
    assert await send(operator, alice, [bob], plain[:first_line] + forged + other
                      + plain[first_line:]) == {}
    stored = list((await fetch_all(operator, bob)).values())
    names, original = strip_trace(stored[0])
    assert names == [b"Return-Path", b"Received"]
    assert original == plain[:first_line] + other + plain[first_line:]
