"""RCPT look-ups reused for at most 1 s (`recipient_cache`), yet status changes hold.

A suspension made by another connection (as `mss bal suspend` in another
process makes it) after the BAL was looked up takes effect within 1 s; a
resumption takes effect at the next RCPT (only active BALs are kept).

Ref: R3; RFC 5321 4.2.2 (550 for a mailbox unavailable).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.protocol.smtp_client import submission
from tests.support import PASSWORD, Operator


async def rcpt(op: Operator, sender: str, to: str) -> tuple[int, bytes]:
    def run() -> tuple[int, bytes]:
        with submission(op.ports["submission"], op.client_context()) as c:
            c.login(sender, PASSWORD)
            c.mail(sender)
            code, reply = c.rcpt(to)
            return code, reply[:5]
    return await asyncio.to_thread(run)


async def set_status(op: Operator, address: str, status: str) -> None:
    async with op.running.services.db.write() as s:  # type: ignore[union-attr]
        await s.execute(text("UPDATE bal SET status=:s WHERE address=:a"),
                        {"s": status, "a": address})


async def test_suspension_elsewhere_seen_within_a_second_resumption_at_once(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    assert (await rcpt(operator, alice, bob))[0] == 250  # bob looked up, kept
    await set_status(operator, bob, "suspended")
    await asyncio.sleep(1.0)  # the entry was kept before the change: at most 1 s ago
    assert await rcpt(operator, alice, bob) == (550, b"5.2.1")
    await set_status(operator, bob, "active")
    assert (await rcpt(operator, alice, bob))[0] == 250


async def test_unknown_address_is_never_kept(operator: Operator) -> None:
    alice = await operator.add_bal("alice")
    assert (await rcpt(operator, alice, "carol@op-a.mssante.fr"))[:2] == (550, b"5.1.1")
    await operator.add_bal("carol")
    assert (await rcpt(operator, alice, "carol@op-a.mssante.fr"))[0] == 250
