"""Which IMAP reads leave the event loop (`read_pool.ReadPool.run`, `large`), SQLite.

Small reads (STATUS, LIST, the metas and bodies of small messages) run on the loop
with no thread hop; a body larger than `read_pool.INLINE_OCTETS` is read in a pool
thread, so no loop step is proportional to a message.
"""

from __future__ import annotations

import asyncio

import pytest

from imap_store.store.read_pool import INLINE_OCTETS
from tests.integration.helpers import imaps, send
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, is_postgres


async def test_small_reads_stay_on_the_loop_and_a_large_body_goes_to_a_thread(
        operator: Operator) -> None:
    if is_postgres():
        pytest.skip("PostgreSQL reads are asyncpg round trips on the loop: no thread at all")
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await send(operator, alice, [bob], simple_message(alice, bob, "petit", "court\n"))
    large = simple_message(alice, bob, "grand", "ligne de compte rendu\n" * (
        2 * INLINE_OCTETS // 22))
    await send(operator, alice, [bob], large)
    reader = operator.running.services.db.reader  # type: ignore[union-attr]

    def fetch(*items: str) -> None:
        client = imaps(operator, bob)
        try:
            assert client.select("INBOX")[0] == "OK"
            for uid, item in items:
                typ, data = client.uid("FETCH", uid, item)
                assert typ == "OK" and data[0] is not None
            assert client.status("INBOX", "(MESSAGES UNSEEN)")[0] == "OK"
            assert client.list()[0] == "OK"
        finally:
            client.logout()

    await asyncio.to_thread(fetch)  # the first SELECT reads the folder whole: off the loop
    before = reader.hops
    await asyncio.to_thread(fetch, ("1", "(ENVELOPE BODYSTRUCTURE)"), ("1", "(BODY.PEEK[])"),
                            ("2", "(ENVELOPE)"))
    assert reader.hops == before  # all on the loop
    await asyncio.to_thread(fetch, ("2", "(BODY.PEEK[])"))
    assert reader.hops == before + 1  # the large body, alone
