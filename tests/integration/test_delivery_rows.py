"""The rows one delivery writes to several BALs and domains, and APPEND after it.

A delivery allocates each local copy's UID with the folder UPDATE that locks
the INBOX row (`message_ops.allocate_tx`) and writes every table once for all
its copies (`DeliveryStore._write`): each BAL's copy must be under the UID
the result gives, with the folder's MODSEQ, the folder counters must agree
with a recount (R25), each queue id must be the row of its domain, in plan
order, and an APPEND after it (the same allocator) must get the next UID. An
APPEND to a folder the BAL does not have is refused by its write unit, with
nothing written.

Ref: RFC 3501 2.3.1.1 (strictly ascending UIDs); RFC 4315 (APPENDUID);
RFC 7162 (MODSEQ); R25.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from imap_store.store.delivery import DeliveryPlan, LocalCopy, RemoteCopy
from imap_store.store.folder_ops import FolderError
from imap_store.store.message_ops import NewMessage
from imap_store.store.quota import QuotaStore
from tests.support import Operator


def _message(n: int, filler: int) -> bytes:
    return (f"Subject: copy {n}\r\nMessage-ID: <{n}@op-a.mssante.fr>\r\n\r\n".encode()
            + b"x" * filler + b"\r\n")


async def test_one_delivery_to_several_bals_and_domains(operator: Operator) -> None:
    names = ["alice", "bob", "carol"]
    bal_ids = {n: operator.bals[await operator.add_bal(n)].bal_id for n in names}
    assert operator.running is not None
    services = operator.running.services
    domains = ("op-b.mssante.fr", "op-c.mssante.fr")
    results = []
    for n in range(3):
        local = (LocalCopy(bal_ids["carol"], _message(n, 100 + n)),
                 LocalCopy(bal_ids["bob"], _message(n, 900 + n)))
        remote = tuple(RemoteCopy(d, (f"x{n}@{d}",), _message(n, 50)) for d in domains)
        results.append(await services.delivery.commit(DeliveryPlan(
            "alice@op-a.mssante.fr", bal_ids["alice"], local=local, remote=remote,
            recipients=(f"x{n}@{domains[0]}",))))

    for name in ("carol", "bob"):
        uids = [uid for r in results for bal, uid in r.local_uids if bal == bal_ids[name]]
        inbox = await services.mailbox.get_folder(bal_ids[name], "INBOX")
        assert inbox is not None
        assert uids == list(range(uids[0], uids[0] + 3)) and inbox.uidnext == uids[-1] + 1
        filler = 100 if name == "carol" else 900
        for n, uid in enumerate(uids):
            assert await services.mailbox.fetch_message(
                bal_ids[name], inbox.id, uid) == _message(n, filler + n)
        counters, counted = await QuotaStore(services.db).recount(bal_ids[name])
        assert (counters.used_bytes, counters.used_messages) == counted
        assert counted[1] == 3
        async with services.db.read() as s:
            modseqs = (await s.execute(text(
                "SELECT modseq FROM mailbox_entry WHERE folder_id = :f ORDER BY uid"),
                {"f": inbox.id})).scalars().all()
        assert list(modseqs) == sorted(set(modseqs)) and modseqs[-1] == inbox.highestmodseq

        appended = await services.mailbox.append(bal_ids[name], "INBOX",
                                                 [NewMessage(_message(9, 10))])
        assert appended.uids == (uids[-1] + 1,)
        after = await services.mailbox.get_folder(bal_ids[name], "INBOX")
        assert after is not None and after.highestmodseq == inbox.highestmodseq + 1
        counters, counted = await QuotaStore(services.db).recount(bal_ids[name])
        assert (counters.used_bytes, counters.used_messages) == counted
        assert counted[1] == 4

    async with services.db.read() as s:
        rows = (await s.execute(text("SELECT id, domain, recipients FROM outbound_queue")
                                )).all()
    queued = {int(r[0]): (r[1], r[2]) for r in rows}
    assert len(queued) == 6
    for n, result in enumerate(results):
        assert [queued[q] for q in result.queue_ids] == [(d, f"x{n}@{d}") for d in domains]


async def test_append_to_a_missing_folder_writes_nothing(operator: Operator) -> None:
    bob = operator.bals[await operator.add_bal("bob")].bal_id
    assert operator.running is not None
    services = operator.running.services
    counts = "SELECT (SELECT count(*) FROM message_content), (SELECT count(*) FROM audit)"
    async with services.db.read() as s:
        before = (await s.execute(text(counts))).one()
    with pytest.raises(FolderError) as refused:
        await services.mailbox.append(bob, "Nope", [NewMessage(_message(1, 10))])
    assert refused.value.reason == "nonexistent"
    async with services.db.read() as s:
        assert (await s.execute(text(counts))).one() == before
    appended = await services.mailbox.append(bob, "INBOX", [NewMessage(_message(2, 10))])
    assert appended.uids == (1,)
