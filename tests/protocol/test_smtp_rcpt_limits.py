"""RCPT bounds through real clients: a repeated recipient is accepted and stored
once, the RCPT commands of a transaction are capped (`452 4.5.3`), refused
RCPTs end the session (`421 4.7.0`), and intake never plans a mailbox twice.

Ref: RFC 5321 3.3, 3.8 (421 and close), 4.5.3.1.10 (452 too many recipients);
RFC 3463 3.6 (X.5.3); R18, R24.
"""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import ssl

import aiosmtplib
import pytest
from sqlalchemy import text

from message.facts import read_facts
from smtp_gateway.intake import AcceptedMail, LocalRecipient, TraceInfo
from tests.protocol.smtp_client import simple_message, submission, transaction
from tests.support import DOMAIN, PASSWORD, Operator

TRUSTED_REMOTE = "dr.y@mssante.apicrypt.org"
OK = (250, "2.1.5", "Recipient OK")


def inbox_count(op: Operator, user: str) -> int:
    """How many messages `user` sees in INBOX, over IMAPS (imaplib)."""
    client = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=op.client_context(),
                               timeout=20)
    try:
        client.login(user, PASSWORD)
        typ, data = client.select("INBOX", readonly=True)
        assert typ == "OK"
        return int(data[0])
    finally:
        client.logout()


async def counts(op: Operator, *users: str) -> list[int]:
    return [await asyncio.to_thread(inbox_count, op, user) for user in users]


async def send(op: Operator, sender: str, rcpts: list[str]) -> dict:
    return await asyncio.to_thread(
        transaction, op.ports["submission"], op.client_context(), sender, PASSWORD, sender,
        rcpts, simple_message(sender, rcpts[0]))


async def queued(op: Operator) -> list[str]:
    """The recipients of every outbound queue row."""
    assert op.running is not None
    async with op.running.services.db.read() as s:
        rows = (await s.execute(text("SELECT recipients FROM outbound_queue ORDER BY id"))).all()
    return [str(r[0]) for r in rows]


async def logged_in(op: Operator, user: str) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=op.ports["submission"],
                             tls_context=op.client_context(), start_tls=True, timeout=20)
    await client.connect()
    await client.login(user, PASSWORD)
    return client


async def rcpt(client: aiosmtplib.SMTP, address: str) -> tuple[int, str]:
    """One RCPT whatever the reply (aiosmtplib's `rcpt` raises on refusals)."""
    reply = await client.execute_command(b"RCPT", f"TO:<{address}>".encode())
    return reply.code, reply.message.partition(" ")[0]


# --- a repeated recipient -----------------------------------------------------------


async def test_repeated_recipient_is_accepted_and_stored_once(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    spellings = [bob] * 150 + [f"bob@{DOMAIN.upper()}"] * 10 + [f"BOB@{DOMAIN}"]
    out = await send(trusted, alice, spellings)
    assert out["rcpt"] == [OK] * 161
    assert out["data"][:2] == (250, "2.0.0")
    assert await counts(trusted, bob) == [1]
    [row] = await trusted.audit_rows("smtp.transaction")
    assert (row["to"], row["rcpt_commands"], row["repeated"]) == ([bob], 161, 160)
    assert len(await trusted.audit_rows("delivery.local")) == 1


async def test_repeated_remote_recipient_is_queued_once(trusted: Operator) -> None:
    alice = await trusted.add_bal("alice")
    out = await send(trusted, alice, [TRUSTED_REMOTE] * 20 + [TRUSTED_REMOTE.upper()])
    assert out["rcpt"] == [OK] * 21 and out["data"][0] == 250
    assert await queued(trusted) == [TRUSTED_REMOTE]


async def test_repeats_do_not_use_the_recipient_cap(scenario) -> None:  # noqa: ANN001
    async with scenario("[recipients]\nmax_per_transaction = { PER = 3 }") as op:
        alice = await op.add_bal("alice")
        r = [await op.add_bal(f"r{i}") for i in range(4)]
        spellings = [r[0], r[0].upper(), r[0], r[1], r[1].upper(), r[2], r[2], r[3]]
        out = await send(op, alice, spellings)
        assert out["rcpt"] == [OK] * 7 + [(452, "4.5.3", "Too many recipients")]
        assert out["data"][0] == 250
        assert await counts(op, *r) == [1, 1, 1, 0]


# --- the hard limit on RCPT commands per transaction ------------------------------------


async def test_rcpt_commands_past_the_limit_get_452_453(scenario) -> None:  # noqa: ANN001
    async with scenario("[limits]\nsmtp_max_rcpt_commands = 100") as op:
        alice, bob, carol = [await op.add_bal(n) for n in ("alice", "bob", "carol")]
        client = await logged_in(op, alice)
        await client.mail(alice)
        first = [await rcpt(client, f"nobody{i}@{DOMAIN}") for i in range(2)]
        first += [await rcpt(client, bob) for _ in range(98)]
        past = [await rcpt(client, a) for a in [carol, bob] * 15]  # 30 > max_refused (20)
        assert first == [(550, "5.1.1")] * 2 + [(250, "2.1.5")] * 98
        assert past == [(452, "4.5.3")] * 30
        assert (await client.data(simple_message(alice, bob)))[0] == 250
        await client.mail(alice)  # a new transaction has its own count
        assert await rcpt(client, carol) == (250, "2.1.5")
        await client.quit()
        assert await counts(op, bob, carol) == [1, 0]
        [limit] = await op.audit_rows("smtp.rcpt_limit")
    assert limit == {"limit": "rcpt_commands", "recipients": 1, "repeated": 97,
                     "threshold": 100}


# --- refused RCPTs per session ---------------------------------------------------------


def probe(port: int, ctx: ssl.SSLContext, login: str, bob: str) -> list[object]:
    """Three unknown recipients over two transactions, then a valid one, then NOOP."""
    replies: list[object] = []
    with submission(port, ctx) as c:
        c.login(login, PASSWORD)
        c.mail(login)
        replies += [c.rcpt(f"nobody{i}@{DOMAIN}")[0] for i in range(2)]
        c.rset()
        c.mail(login)
        replies.append(c.rcpt(f"nobody2@{DOMAIN}")[0])
        code, message = c.rcpt(bob)
        replies.append((code, message.decode().partition(" ")[0]))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.noop()
    return replies


async def test_refused_rcpts_end_the_session_with_421(scenario) -> None:  # noqa: ANN001
    async with scenario("[limits]\nsmtp_max_refused_rcpts = 3") as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        replies = await asyncio.to_thread(probe, op.ports["submission"], op.client_context(),
                                          alice, bob)
        refused = await op.audit_rows("smtp.refused")
        [limit] = await op.audit_rows("smtp.rcpt_limit")
        later = await send(op, alice, [bob])  # a new session starts afresh
    assert replies == [550, 550, 550, (421, "4.7.0")]
    assert len(refused) == 3
    assert limit == {"limit": "refused_rcpts", "refused": 3, "threshold": 3}
    assert later["rcpt"] == [OK] and later["data"][0] == 250


async def test_recipient_cap_refusals_do_not_end_the_session(scenario) -> None:  # noqa: ANN001
    config = "[recipients]\nmax_per_transaction = { PER = 2 }\n[limits]\nsmtp_max_refused_rcpts = 3"
    async with scenario(config) as op:
        alice = await op.add_bal("alice")
        r = [await op.add_bal(f"r{i}") for i in range(12)]
        out = await send(op, alice, r)
        assert [c[:2] for c in out["rcpt"]] == [(250, "2.1.5")] * 2 + [(452, "4.5.3")] * 10
        assert out["data"][0] == 250
        assert await op.audit_rows("smtp.rcpt_limit") == []


# --- intake --------------------------------------------------------------------------


async def test_intake_never_plans_a_mailbox_twice(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    assert trusted.running is not None
    bal_id = trusted.bals[bob].bal_id
    content = simple_message(alice, bob)
    mail = AcceptedMail(
        mail_from=alice, owner_bal_id=trusted.bals[alice].bal_id,
        local=(LocalRecipient(bob, bal_id), LocalRecipient(bob.upper(), bal_id),
               LocalRecipient(bob, bal_id)),
        remote=(TRUSTED_REMOTE, TRUSTED_REMOTE.upper(), "dr.z@mssante.apicrypt.org"),
        content=content, facts=read_facts(content),
        trace=TraceInfo(helo="client.test", peer_ip="127.0.0.1", protocol="ESMTPSA",
                        session="s1"))
    result = await trusted.running.services.intake.accept(mail)
    assert len(result.local_uids) == 1 and len(result.queue_ids) == 1
    assert await counts(trusted, bob) == [1]
    assert await queued(trusted) == [f"{TRUSTED_REMOTE}\ndr.z@mssante.apicrypt.org"]
    assert len(await trusted.audit_rows("delivery.local")) == 1
