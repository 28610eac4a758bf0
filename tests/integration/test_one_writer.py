"""SMTP deliveries and IMAP APPENDs into one INBOX, at the same time.

Both go through the store's one insert path (`message_ops.insert_sealed`,
UIDs allocated on the locked folder row): whatever the interleaving, UIDs are
unique and dense, ascending in the order each client saw its commits, MODSEQ
rises with the UID, and every message is stored once under the UID its
client was told (APPENDUID, the `delivery.local` audit record).

The clients are real (smtplib, imaplib), each in a thread of a pool of its
own, so the server's worker threads (sealing) are never starved by them.

Ref: RFC 3501 2.3.1.1 (strictly ascending UIDs); RFC 4315 (APPENDUID);
RFC 7162 (MODSEQ).
"""

from __future__ import annotations

import asyncio
import email
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

from sqlalchemy import text

from tests.integration.helpers import fetch_all, imaps
from tests.protocol.smtp_client import submission
from tests.support import PASSWORD, Operator

SENDERS, PER_SENDER = 4, 4
APPENDERS, PER_APPENDER = 3, 4


def message(sender: str, rcpt: str, mid: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, mid
    msg["Message-ID"] = f"<{mid}@test>"
    msg.set_content(f"{mid}\n" * 200)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def smtp_client(op: Operator, sender: str, rcpt: str, n: int) -> Callable[[], list[str]]:
    def run() -> list[str]:
        sent = []
        with submission(op.ports["submission"], op.client_context()) as c:
            c.login(sender, PASSWORD)
            for i in range(PER_SENDER):
                mid = f"smtp-{n}-{i}"
                assert c.sendmail(sender, [rcpt], message(sender, rcpt, mid)) == {}
                sent.append(mid)
        return sent
    return run


def imap_client(op: Operator, user: str, n: int) -> Callable[[], list[tuple[str, int]]]:
    def run() -> list[tuple[str, int]]:
        client, out = imaps(op, user), []
        try:
            for i in range(PER_APPENDER):
                mid = f"imap-{n}-{i}"
                typ, data = client.append("INBOX", "", None, message(user, user, mid))
                assert typ == "OK", data
                found = re.match(rb"\[APPENDUID \d+ (\d+)\]", data[0])
                assert found, data
                out.append((mid, int(found.group(1))))
        finally:
            client.logout()
        return out
    return run


async def test_concurrent_deliveries_and_appends_get_unique_ascending_uids(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(SENDERS + APPENDERS) as pool:
        sent, appended = await asyncio.gather(
            asyncio.gather(*(loop.run_in_executor(pool, smtp_client(operator, alice, bob, n))
                             for n in range(SENDERS))),
            asyncio.gather(*(loop.run_in_executor(pool, imap_client(operator, bob, n))
                             for n in range(APPENDERS))))
    total = SENDERS * PER_SENDER + APPENDERS * PER_APPENDER
    stored = await fetch_all(operator, bob)
    assert sorted(stored) == list(range(1, total + 1))
    by_mid = {email.message_from_bytes(raw)["Message-ID"][1:-6]: uid
              for uid, raw in stored.items()}
    assert len(by_mid) == total
    for client in appended:
        assert [uid for _, uid in client] == sorted(uid for _, uid in client)
        assert all(by_mid[mid] == uid for mid, uid in client)
    delivered = {d["message_id"][1:-6]: d["uid"]
                 for d in await operator.audit_rows("delivery.local")}
    assert delivered == {mid: by_mid[mid] for batch in sent for mid in batch}
    for batch in sent:
        assert [delivered[mid] for mid in batch] == sorted(delivered[mid] for mid in batch)
    async with operator.running.services.db.read() as s:  # type: ignore[union-attr]
        modseqs = list((await s.execute(text(
            "SELECT e.modseq FROM mailbox_entry e JOIN folder f ON f.id = e.folder_id "
            "WHERE f.bal_id = :b ORDER BY e.uid"), {"b": operator.bals[bob].bal_id})).scalars())
    assert len(modseqs) == total and modseqs == sorted(set(modseqs))
