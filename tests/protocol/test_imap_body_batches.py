"""FETCH of whole messages reads them in bounded batches (imap/message_loader.py).

One read of the store per batch of at most `BODY_BATCH` messages and
`BODY_BATCH_OCTETS` octets (by stored size), a larger message alone; what the
client receives is the same as one message at a time, in the command's order.

Ref: RFC 3501 6.4.5.
"""

from __future__ import annotations

import pytest

from imap_store.imap.message_loader import BODY_BATCH, BODY_BATCH_OCTETS
from tests.protocol.imap_support import Raw, in_thread, numbered, seed
from tests.support import Operator


def _big(n: int, octets: int) -> bytes:
    line = b"x" * 998 + b"\r\n"
    return numbered(n).replace(b"\r\n\r\n", b"\r\n\r\n" + line * (octets // len(line)), 1)


@pytest.fixture
def reads(operator: Operator, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    assert operator.running is not None
    store = operator.running.services.mailbox
    real = store.fetch_messages
    calls: list[list[int]] = []

    async def spy(bal_id: int, folder_id: int, uids: list[int],
                  octets: int | None = None) -> dict[int, bytes]:
        calls.append(list(uids))
        return await real(bal_id, folder_id, uids, octets=octets)

    monkeypatch.setattr(store, "fetch_messages", spy)
    return calls


async def test_small_bodies_come_in_batches_of_fifty(operator: Operator,
                                                     reads: list[list[int]]) -> None:
    bob = await operator.add_bal("bob")
    messages = [numbered(n) for n in range(BODY_BATCH + 7)]
    await seed(operator, bob, "INBOX", messages)
    raw = await in_thread(Raw, operator, bob)
    try:
        await in_thread(raw.cmd, b"S", b"EXAMINE INBOX")
        lines = await in_thread(raw.cmd, b"F", b"FETCH 1:* (BODY.PEEK[])")
    finally:
        raw.close()
    assert lines[-1] == b"F OK FETCH completed"
    bodies = [line.split(b"}\r\n", 1)[1][:-1] for line in lines[:-1]]
    assert bodies == messages
    assert reads == [list(range(1, BODY_BATCH + 1)), list(range(BODY_BATCH + 1, BODY_BATCH + 8))]


async def test_batches_stop_at_the_octet_bound_in_the_commands_order(
        operator: Operator, reads: list[list[int]]) -> None:
    bob = await operator.add_bal("bob")
    third = BODY_BATCH_OCTETS // 3 - 2000  # headers included, three fit in one batch
    messages = [_big(1, third), _big(2, third), _big(3, third), _big(4, 2 * BODY_BATCH_OCTETS),
                numbered(5)]
    await seed(operator, bob, "INBOX", messages)
    raw = await in_thread(Raw, operator, bob)
    try:
        await in_thread(raw.cmd, b"S", b"EXAMINE INBOX")
        lines = await in_thread(raw.cmd, b"F", b"UID FETCH 5,4,3,2,1 (BODY.PEEK[])")
    finally:
        raw.close()
    assert lines[-1] == b"F OK UID FETCH completed"
    assert [line.split(b"}\r\n", 1)[1][:-1] for line in lines[:-1]] == messages
    # The command visits UIDs in ascending order: 1-3 fit together, 4 alone, then 5.
    assert reads == [[1, 2, 3], [4], [5]]
