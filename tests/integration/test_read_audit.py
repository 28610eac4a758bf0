"""The audit records of reads (R24): a body FETCH is recorded without holding its reply.

`DatabaseAuditSink.record_soon` queues the `imap.fetch_body` record and writes it
with the others queued meanwhile, at most `QUEUED_RECORD_DELAY` seconds later; a
stop writes what is still queued. Real server, real IMAP client (imaplib), the
database read back.

Ref: R24; RFC 3501 6.4.5 (BODY.PEEK and BODY fetches).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from imap_store.store.interfaces import AuditEvent
from server.audit import QUEUED_RECORD_DELAY
from tests.integration.helpers import imaps, send
from tests.integration.test_delivery_audit import refuse_audit, sql
from tests.integration.test_shutdown_inflight import write_lock
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, make_operator, serving


def _fetch_bodies(op: Operator, user: str, count: int, item: str = "(BODY.PEEK[])") -> None:
    c = imaps(op, user)
    assert c.select("INBOX")[0] == "OK"
    for _ in range(count):
        typ, data = c.fetch("1", item)
        assert typ == "OK" and data[0] is not None
    c.logout()


async def _rows_within(op: Operator, count: int, seconds: float) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:  # as the server wrote them: nothing flushed by the test
        rows = await op.audit_rows("imap.fetch_body", flush=False)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.02)


async def test_body_fetches_are_recorded_shortly_after_and_at_stop(tmp_path: Path) -> None:
    async with serving(await make_operator(tmp_path)) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        assert await send(op, alice, [bob], simple_message(alice, bob, "lettre")) == {}
        await asyncio.to_thread(_fetch_bodies, op, bob, 5)
        rows = await _rows_within(op, 5, 20 * QUEUED_RECORD_DELAY)
        assert len(rows) == 5
        assert all(r["uids"] == [1] and r["peek"] is True and r["mailbox"] == "INBOX"
                   for r in rows)
        assert all(r.get("subject") is None for r in rows)  # envelope facts only

        await asyncio.to_thread(_fetch_bodies, op, bob, 1, "(BODY[])")
        await op.stop()  # at once: the record still queued is written by the stop
        await op.start()
        rows = await op.audit_rows("imap.fetch_body", flush=False)
        assert len(rows) == 6 and rows[-1]["peek"] is False


@pytest.mark.server_error("mss.audit", r"audit write failed for event refused\.here")
@pytest.mark.server_error("mss.audit", r"audit record lost after the reply: event refused\.here")
async def test_a_refused_queued_record_is_lost_alone(tmp_path: Path) -> None:
    """The queue goes as one unit; when the database refuses it, each record is written
    alone, so only the refused one is lost (logged and counted)."""
    async with serving(await make_operator(tmp_path)) as op:
        assert op.running is not None
        await sql(op, *refuse_audit("refused.here"))
        sink = op.running.services.audit
        for name in ("kept.one", "refused.here", "kept.two"):
            await sink.record_soon(AuditEvent(name, protocol="imap", detail={"n": 1}))
        await sink.flush()
        assert [len(await op.audit_rows(n, flush=False))
                for n in ("kept.one", "refused.here", "kept.two")] == [1, 0, 1]
        assert sink.lost_records == 1


async def test_a_record_queued_while_the_queue_is_being_written_follows_it(
        tmp_path: Path) -> None:
    """The queue's write is held up (another connection holds the write lock); a record
    queued meanwhile is written in the next round, without another record or a stop."""
    async with serving(await make_operator(tmp_path)) as op:
        assert op.running is not None
        sink = op.running.services.audit
        async with write_lock(op):
            await sink.record_soon(AuditEvent("first.one", protocol="imap"))
            await asyncio.sleep(3 * QUEUED_RECORD_DELAY)  # its write now waits for the lock
            await sink.record_soon(AuditEvent("second.one", protocol="imap"))
        deadline = time.monotonic() + 40 * QUEUED_RECORD_DELAY
        while time.monotonic() < deadline:
            if await op.audit_rows("second.one", flush=False):
                break
            await asyncio.sleep(0.02)
        assert len(await op.audit_rows("first.one", flush=False)) == 1
        assert len(await op.audit_rows("second.one", flush=False)) == 1
