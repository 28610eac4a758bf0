"""SMTP in -> encrypted store -> IMAP out, with real clients.

Ref: RFC 5321 4.4 (trace headers), RFC 3501 (UID, UIDVALIDITY), RFC 2177 (IDLE).
"""

from __future__ import annotations

import asyncio
import re
import time
from email.message import EmailMessage

import aioimaplib

from tests.integration.helpers import fetch_all, imaps, send, strip_trace
from tests.protocol.smtp_client import simple_message
from tests.support import PASSWORD, Operator


def _with_attachment(sender: str, to: str, marker: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, to
    msg["Subject"] = f"Compte rendu {marker}"
    msg["Message-ID"] = "<marker-1@client.test>"
    msg.set_content(f"Patient note {marker}\n")
    msg.add_attachment(f"attachment text {marker}\n".encode(), maintype="text",
                       subtype="plain", filename="note.txt", cte="7bit")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


async def test_message_arrives_byte_identical(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sent = simple_message(alice, bob, "Résultats", "Bonjour,\nvoici les résultats.\n")
    assert await send(operator, alice, [bob], sent) == {}
    stored = await fetch_all(operator, bob)
    assert list(stored) == [1]
    trace, original = strip_trace(stored[1])
    assert trace == [b"Return-Path", b"Received"]
    assert original == sent


async def test_restart_keeps_messages_flags_uids_uidvalidity(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    for i in range(3):
        await send(operator, alice, [bob], simple_message(alice, bob, f"m{i}"))

    def set_flags() -> None:
        c = imaps(operator, bob)
        c.select("INBOX")
        assert c.uid("STORE", "2", "+FLAGS", r"(\Flagged \Seen $Urgent)")[0] == "OK"
        assert c.uid("STORE", "3", "+FLAGS", r"(\Answered)")[0] == "OK"
        c.logout()

    def read() -> tuple[bytes, dict[int, set[bytes]], bytes]:
        """UIDVALIDITY, the flags of each UID and UIDNEXT, read without changing anything."""
        c = imaps(operator, bob)
        c.select("INBOX", readonly=True)
        validity = c.response("UIDVALIDITY")[1][0]
        uidnext = c.response("UIDNEXT")[1][0]
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
        c.logout()
        flags = {}
        for item in data:
            m = re.match(rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\)\)", item)
            assert m, item
            # \Recent is session state (RFC 3501 2.3.2), not a stored flag.
            flags[int(m[1])] = set(m[2].split()) - {b"\\Recent"}
        return validity, flags, uidnext

    await asyncio.to_thread(set_flags)
    before = await asyncio.to_thread(read)
    assert before[1] == {1: set(), 2: {b"\\Flagged", b"\\Seen", b"$Urgent"},
                         3: {b"\\Answered"}}
    bodies = await fetch_all(operator, bob)
    await operator.stop()
    await operator.start()
    after = await asyncio.to_thread(read)
    assert after == before
    assert await fetch_all(operator, bob) == bodies


async def test_idle_sees_exists_within_one_second(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    client = aioimaplib.IMAP4_SSL("127.0.0.1", operator.ports["imaps"],
                                  ssl_context=operator.client_context(), timeout=20)
    await client.wait_hello_from_server()
    assert (await client.login(bob, PASSWORD)).result == "OK"
    assert (await client.select("INBOX")).result == "OK"
    idle = await client.idle_start(timeout=30)
    await send(operator, alice, [bob], simple_message(alice, bob))
    sent_at = time.monotonic()
    pushed = await client.wait_server_push(timeout=5)
    elapsed = time.monotonic() - sent_at
    client.idle_done()
    await asyncio.wait_for(idle, 10)
    await client.logout()
    assert any(b"EXISTS" in (line if isinstance(line, bytes) else line.encode())
               for line in pushed), pushed
    assert elapsed < 1.0


async def test_marker_never_in_clear_on_disk_logs_or_audit(operator: Operator, caplog) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    marker = "ZX-MARKER-7f3c91e2"
    message = _with_attachment(alice, bob, marker)
    assert message.count(marker.encode()) == 3
    assert await send(operator, alice, [bob], message) == {}
    assert marker.encode() in (await fetch_all(operator, bob))[1]
    await operator.stop()
    for path in operator.directory.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path
    assert marker not in caplog.text
    await operator.start()
    async with operator.running.services.db.read() as s:  # type: ignore[union-attr]
        from sqlalchemy import text
        rows = (await s.execute(text("SELECT event, detail FROM audit"))).all()
        blobs = (await s.execute(text("SELECT body FROM message_content"))).all()
    assert rows and all(marker not in f"{e} {d}" for e, d in rows)
    assert blobs and all(marker.encode() not in bytes(b[0]) for b in blobs)
