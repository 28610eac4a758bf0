"""Group commit: deliveries that arrive together share one transaction (`group_commit`).

The batch is formed for real: another database connection holds the write
lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL `LOCK TABLE ... EXCLUSIVE`), so the
first delivery's transaction waits while the others arrive and queue behind
it; then the lock is let go. Checked, on SQLite and PostgreSQL, with real
SMTP clients and with the store's own `DeliveryStore.commit`: no delivery is
answered while its transaction cannot commit; the queued ones are committed
together, each answered once its work is durable (read back through another
connection), with unique UIDs ascending in arrival order; a delivery that the
database refuses (a trigger on its recipient's folder) fails alone, the
others of its batch are stored.

Ref: RFC 5321 6.1 (a 250 only once the message is safely stored); R24.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import make_url, text

from imap_store.store.delivery import DeliveryPlan, DeliveryResult, LocalCopy
from imap_store.store.interfaces import AuditEvent
from tests.integration.helpers import fetch_all, strip_trace
from tests.integration.test_shutdown_inflight import RawSmtp, write_lock
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, is_postgres
from tests.support import test_database_url as database_url

N = 6


async def queued(op: Operator, count: int) -> None:
    """Wait until `count` units wait behind the batch under way."""
    writer = op.running.services.db.writer  # type: ignore[union-attr]
    for _ in range(400):
        if writer.waiting >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{writer.waiting} units queued, expected {count}")


async def under_way(op: Operator, batches: int) -> None:
    """Wait until the writer has started a batch after its `batches`-th one."""
    writer = op.running.services.db.writer  # type: ignore[union-attr]
    for _ in range(400):
        if writer.batches > batches:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("no batch started")


async def scalar(op: Operator, query: str, **params: object) -> object:
    async with op.running.services.db.read() as s:  # type: ignore[union-attr]
        return (await s.execute(text(query), params)).scalar_one()


def plan(op: Operator, sender: str, rcpt: str, n: int) -> DeliveryPlan:
    owner, bal = op.bals[sender].bal_id, op.bals[rcpt].bal_id

    def audit(result: DeliveryResult) -> list[AuditEvent]:
        return [AuditEvent("delivery.local", protocol="smtp", bal=rcpt,
                           detail={"uid": result.local_uids[0][1], "n": n})]
    return DeliveryPlan(mail_from=sender, owner_bal_id=owner,
                        local=(LocalCopy(bal, simple_message(sender, rcpt, f"m{n}")),),
                        recipients=(rcpt,), audit=audit)


async def test_smtp_deliveries_arriving_together_share_a_transaction(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    writer = operator.running.services.db.writer  # type: ignore[union-attr]
    senders = [await asyncio.to_thread(RawSmtp, operator) for _ in range(N)]
    for sender in senders:
        await asyncio.to_thread(sender.envelope, alice, bob)
    async with write_lock(operator):
        batches = writer.batches
        await asyncio.to_thread(senders[0].data, simple_message(alice, bob, "s0"))
        await under_way(operator, batches)  # the first delivery's batch, waiting on the lock
        for n, sender in enumerate(senders[1:], 1):
            await asyncio.to_thread(sender.data, simple_message(alice, bob, f"s{n}"))
        await queued(operator, N - 1)
        for sender in senders:  # nothing is acknowledged while nothing can commit
            assert await asyncio.to_thread(sender.nothing_yet, 0.05)
        assert await scalar(operator, "SELECT count(*) FROM message_content") == 0
        mark = len(writer.recent_sizes)  # the first delivery's batch is counted already
    replies = [await asyncio.to_thread(s.reply) for s in senders]
    assert replies == [b"250 2.0.0 OK"] * N
    assert list(writer.recent_sizes)[mark - 1:mark + 1] == [1, N - 1]  # queued: one transaction
    stored = await fetch_all(operator, bob)
    assert sorted(stored) == list(range(1, N + 1))
    subjects = {strip_trace(raw)[1].split(b"Subject: ")[1].split(b"\r\n")[0]
                for raw in stored.values()}
    assert subjects == {f"s{n}".encode() for n in range(N)}
    assert sorted(d["uid"] for d in await operator.audit_rows("delivery.local")) == \
        list(range(1, N + 1))


async def test_store_commits_a_batch_each_answered_after_its_commit(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    delivery = operator.running.services.delivery  # type: ignore[union-attr]
    writer = operator.running.services.db.writer  # type: ignore[union-attr]
    now = datetime.now(UTC)
    async with write_lock(operator):
        batches = writer.batches
        first = asyncio.create_task(delivery.commit(plan(operator, alice, bob, 0), now))
        await under_way(operator, batches)
        rest = []
        for n in range(1, N):
            rest.append(asyncio.create_task(delivery.commit(plan(operator, alice, bob, n), now)))
            await queued(operator, n)  # arrival order: unit n queued before unit n + 1
        await asyncio.sleep(0.2)
        assert not first.done() and not any(t.done() for t in rest)
    results = [await first] + [await t for t in rest]
    assert list(writer.recent_sizes)[-2:] == [1, N - 1]
    # UIDs ascend in arrival order; each row is visible through another connection
    assert [r.local_uids[0][1] for r in results] == list(range(1, N + 1))
    assert await scalar(operator, "SELECT count(*) FROM mailbox_entry") == N
    assert await scalar(operator, "SELECT uidnext FROM folder WHERE name='INBOX' AND "
                                  "bal_id=:b", b=operator.bals[bob].bal_id) == N + 1
    audits = await operator.audit_rows("delivery.local")
    assert [(d["n"], d["uid"]) for d in audits] == [(n, n + 1) for n in range(N)]


def refuse_folder(folder_id: int) -> tuple[str, ...]:
    """Statements making the database refuse new entries of one folder."""
    if not is_postgres():
        return (f"CREATE TRIGGER one_fault BEFORE INSERT ON mailbox_entry WHEN NEW.folder_id = "
                f"{folder_id} BEGIN SELECT RAISE(ABORT, 'refused'); END",)
    return ("CREATE FUNCTION one_fault() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            f"CREATE TRIGGER one_fault BEFORE INSERT ON mailbox_entry FOR EACH ROW "
            f"WHEN (NEW.folder_id = {folder_id}) EXECUTE FUNCTION one_fault()")


async def test_a_failing_delivery_fails_alone_in_its_batch(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    carol = await operator.add_bal("carol")
    delivery = operator.running.services.delivery  # type: ignore[union-attr]
    writer = operator.running.services.db.writer  # type: ignore[union-attr]
    inbox = int(await scalar(operator, "SELECT id FROM folder WHERE name='INBOX' AND "
                                       "bal_id=:b", b=operator.bals[carol].bal_id))
    async with operator.running.services.db.write() as s:  # type: ignore[union-attr]
        for stmt in refuse_folder(inbox):
            await s.execute(text(stmt))
    now = datetime.now(UTC)
    targets = [bob, bob, carol, bob, bob]
    async with write_lock(operator):
        batches = writer.batches
        first = asyncio.create_task(delivery.commit(plan(operator, alice, bob, 0), now))
        await under_way(operator, batches)
        rest = []
        for n, rcpt in enumerate(targets, 1):
            rest.append(asyncio.create_task(delivery.commit(plan(operator, alice, rcpt, n),
                                                            now)))
            await queued(operator, n)
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert list(writer.recent_sizes)[-2:] == [1, len(targets)]
    failed = [n for n, o in enumerate(outcomes) if isinstance(o, BaseException)]
    assert failed == [3]  # carol's, and only hers
    assert "refused" in str(outcomes[3])
    uids = [o.local_uids[0][1] for o in outcomes if isinstance(o, DeliveryResult)]
    assert uids == [1, 2, 3, 4, 5]
    assert await scalar(operator, "SELECT count(*) FROM mailbox_entry") == 5
    assert await scalar(operator, "SELECT count(*) FROM message_content") == 5
    assert await scalar(operator, "SELECT uidnext FROM folder WHERE id=:f", f=inbox) == 1
    assert sorted(d["n"] for d in await operator.audit_rows("delivery.local")) == \
        [0, 1, 2, 4, 5]


@pytest.mark.server_error("mss.audit", r"audit write failed for event")
async def test_a_failing_audit_record_does_not_fail_the_deliveries_beside_it(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    delivery = operator.running.services.delivery  # type: ignore[union-attr]
    audit = operator.running.services.audit  # type: ignore[union-attr]
    if is_postgres():
        faults = ("CREATE FUNCTION afault() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$ BEGIN RAISE EXCEPTION 'no'; END $$",
                  "CREATE TRIGGER afault BEFORE INSERT ON audit FOR EACH ROW "
                  "WHEN (NEW.event = 'refused.here') EXECUTE FUNCTION afault()")
    else:
        faults = ("CREATE TRIGGER afault BEFORE INSERT ON audit WHEN NEW.event = "
                  "'refused.here' BEGIN SELECT RAISE(ABORT, 'no'); END",)
    async with operator.running.services.db.write() as s:  # type: ignore[union-attr]
        for stmt in faults:
            await s.execute(text(stmt))
    now = datetime.now(UTC)
    writer = operator.running.services.db.writer  # type: ignore[union-attr]
    async with write_lock(operator):
        batches = writer.batches
        first = asyncio.create_task(delivery.commit(plan(operator, alice, bob, 0), now))
        await under_way(operator, batches)
        second = asyncio.create_task(delivery.commit(plan(operator, alice, bob, 1), now))
        await queued(operator, 1)
        bad = asyncio.create_task(audit.record(AuditEvent("refused.here")))
        await queued(operator, 2)
        third = asyncio.create_task(delivery.commit(plan(operator, alice, bob, 2), now))
        await queued(operator, 3)
    done = await asyncio.gather(first, second, bad, third, return_exceptions=True)
    assert isinstance(done[2], Exception)
    assert [d.local_uids[0][1] for d in (done[0], done[1], done[3])] == [1, 2, 3]  # type: ignore[union-attr]
    assert await scalar(operator, "SELECT count(*) FROM audit WHERE event='refused.here'") == 0


async def test_a_unit_that_postgresql_aborts_as_a_deadlock_victim_runs_again(
        operator: Operator) -> None:
    """Two processes' batches can lock folder rows in opposite orders; PostgreSQL then
    aborts one transaction (40P01). Here another connection makes the writer's unit a
    deadlock victim twice in a row (in its batch, then alone): the unit runs again and
    commits, and its caller never sees the deadlock."""
    if not is_postgres():
        pytest.skip("deadlock detection between two transactions: PostgreSQL")
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    x, y = [int(await scalar(operator, "SELECT id FROM folder WHERE name='INBOX' AND "
                                       "bal_id=:b", b=operator.bals[a].bal_id))
            for a in (alice, bob)]
    writer = operator.running.services.db.writer  # type: ignore[union-attr]
    x_locked, y_locked = asyncio.Event(), asyncio.Event()
    attempts = 0
    touch = "UPDATE folder SET highestmodseq = highestmodseq WHERE id = $1"

    async def unit(tx) -> int:  # noqa: ANN001
        nonlocal attempts
        attempts += 1
        await tx.execute("SET LOCAL deadlock_timeout = '500ms'")  # this side detects
        await tx.execute(touch, x)
        x_locked.set()
        await y_locked.wait()
        await tx.execute(touch, y)
        return attempts

    url = make_url(database_url()).set(database=operator.pg_name)
    other = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(
        hide_password=False))
    try:
        async def opposite_order(times: int) -> None:
            for _ in range(times):
                async with other.transaction():
                    await other.execute("SET LOCAL deadlock_timeout = '10s'")
                    await other.execute(touch, y)
                    y_locked.set()
                    await x_locked.wait()
                    x_locked.clear()
                    await asyncio.sleep(0.1)  # the unit now waits for y
                    await other.execute(touch, x)  # the cycle: the unit is aborted
                    y_locked.clear()
            y_locked.set()  # from now on the unit finds y free

        crossing = asyncio.create_task(opposite_order(2))
        assert await asyncio.wait_for(writer.run(unit), 30) == 3
        await crossing
    finally:
        await other.close()
