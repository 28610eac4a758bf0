"""A delivery and its audit records commit or fail together (R24; RFC 5321 6.1).

The faults are real database refusals (triggers on the `audit` table, on
SQLite and PostgreSQL), never mocks: one refuses the handler's post-commit
`smtp.transaction` record (the client must still get its `250` and the
message must be stored once), one refuses the delivery's own
`delivery.local` / `delivery.queued` record (the whole delivery must fail
with `451` and leave nothing behind).

Ref: RFC 5321 4.2.5 (451 after DATA), 6.1 (reliable delivery); R24.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.helpers import fetch_all, strip_trace
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, REAL_TRUST_LIST, Operator, is_postgres, make_operator, serving

TRUSTED_REMOTE = "dr.y@mssante.apicrypt.org"


@pytest.fixture
async def trusted(tmp_path: Path) -> AsyncIterator[Operator]:
    """An operator with the real trust list, so a remote MSSanté domain is accepted."""
    async with serving(await make_operator(tmp_path)) as op:
        await op.import_trust_list(REAL_TRUST_LIST.read_bytes())
        yield op


def refuse_audit(event: str, *, at_commit: bool = False) -> tuple[str, ...]:
    """Statements making the database refuse `audit` rows of `event`.

    On PostgreSQL `at_commit` defers the refusal to COMMIT (a constraint
    trigger), so the delivery's statements all succeed and COMMIT fails.
    """
    if not is_postgres():
        return (f"CREATE TRIGGER fault BEFORE INSERT ON audit WHEN NEW.event = '{event}' "
                "BEGIN SELECT RAISE(ABORT, 'audit is read-only'); END",)
    timing = ("CONSTRAINT TRIGGER fault AFTER INSERT ON audit DEFERRABLE INITIALLY DEFERRED"
              if at_commit else "TRIGGER fault BEFORE INSERT ON audit")
    return ("CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit is read-only'; END $$",
            f"CREATE {timing} FOR EACH ROW WHEN (NEW.event = '{event}') "
            "EXECUTE FUNCTION fault()")


def refuse_entries() -> tuple[str, ...]:
    """Statements making the database refuse every new folder entry."""
    if not is_postgres():
        return ("CREATE TRIGGER entry_fault BEFORE INSERT ON mailbox_entry "
                "BEGIN SELECT RAISE(ABORT, 'read-only'); END",)
    return ("CREATE FUNCTION entry_fault() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'read-only'; END $$",
            "CREATE TRIGGER entry_fault BEFORE INSERT ON mailbox_entry "
            "FOR EACH ROW EXECUTE FUNCTION entry_fault()")


def drop_fault() -> tuple[str, ...]:
    if is_postgres():
        return "DROP TRIGGER fault ON audit", "DROP FUNCTION fault()"
    return ("DROP TRIGGER fault",)


async def sql(op: Operator, *statements: str) -> None:
    async with op.running.services.db.write() as s:  # type: ignore[union-attr]
        for stmt in statements:
            await s.execute(text(stmt))


async def scalar(op: Operator, query: str, **params: object) -> object:
    async with op.running.services.db.read() as s:  # type: ignore[union-attr]
        return (await s.execute(text(query), params)).scalar_one()


async def send_one(op: Operator, sender: str, rcpts: list[str],
                   subject: str = "Hello") -> tuple[int, bytes]:
    """MAIL, RCPT each, DATA with smtplib; the DATA reply."""
    def run() -> tuple[int, bytes]:
        with submission(op.ports["submission"], op.client_context()) as c:
            c.login(sender, PASSWORD)
            c.mail(sender)
            for rcpt in rcpts:
                assert c.rcpt(rcpt)[0] == 250
            return c.data(simple_message(sender, rcpts[0], subject))
    return await asyncio.to_thread(run)


async def inbox_uidnext(op: Operator, address: str) -> int:
    return int(await scalar(op, "SELECT uidnext FROM folder WHERE name='INBOX' AND bal_id=:b",
                            b=op.bals[address].bal_id))  # type: ignore[arg-type]


async def count(op: Operator, table: str) -> int:
    return int(await scalar(op, f"SELECT count(*) FROM {table}"))  # type: ignore[arg-type]


@pytest.mark.server_error("mss.audit", r"audit write failed for event smtp\.transaction")
@pytest.mark.server_error("mss.audit", r"audit record lost after the reply: event smtp.transaction")
async def test_failed_transaction_record_after_commit_keeps_250_and_one_copy(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await sql(operator, *refuse_audit("smtp.transaction"))
    code, _ = await send_one(operator, alice, [bob], "once")
    assert code == 250
    stored = await fetch_all(operator, bob)
    assert list(stored) == [1]
    assert b"Subject: once" in strip_trace(stored[1])[1]
    assert await count(operator, "mailbox_entry") == 1
    assert [d["uid"] for d in await operator.audit_rows("delivery.local")] == [1]
    assert await operator.audit_rows("smtp.transaction") == []
    assert operator.running.services.audit.lost_records == 1  # type: ignore[union-attr]


@pytest.fixture
async def budgeted(tmp_path: Path) -> AsyncIterator[Operator]:
    """An operator with a daily recipient budget (R18), so deliveries also record their
    distinct recipients of the day (`sent_recipient`)."""
    async with serving(await make_operator(
            tmp_path / "budgeted", extra_toml="[recipients]\ndaily_budget = 100")) as op:
        yield op


@pytest.mark.server_error("mss.smtp", r"intake failed; message not stored")
async def test_failed_delivery_audit_fails_the_delivery(budgeted: Operator) -> None:
    operator = budgeted
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await sql(operator, *refuse_audit("delivery.local", at_commit=True))
    code, reply = await send_one(operator, alice, [bob])
    assert (code, reply[:5]) == (451, b"4.3.0")
    assert await count(operator, "message_content") == 0
    assert await count(operator, "mailbox_entry") == 0
    assert await count(operator, "sent_recipient") == 0
    assert await inbox_uidnext(operator, bob) == 1
    assert await operator.audit_rows("delivery.local") == []
    await sql(operator, *drop_fault())
    code, _ = await send_one(operator, alice, [bob])
    assert code == 250
    assert list(await fetch_all(operator, bob)) == [1]
    assert await count(operator, "sent_recipient") == 1
    assert [d["uid"] for d in await operator.audit_rows("delivery.local")] == [1]


@pytest.mark.server_error("mss.smtp", r"intake failed; message not stored")
async def test_failed_queued_audit_rolls_back_local_copies_too(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    await sql(trusted, *refuse_audit("delivery.queued"))
    code, reply = await send_one(trusted, alice, [bob, TRUSTED_REMOTE])
    assert (code, reply[:5]) == (451, b"4.3.0")
    assert await count(trusted, "outbound_queue") == 0
    assert await count(trusted, "mailbox_entry") == 0
    assert await count(trusted, "message_content") == 0
    assert await inbox_uidnext(trusted, bob) == 1
    assert await trusted.audit_rows("delivery.local") == []


@pytest.mark.server_error("mss.smtp", r"intake failed; message not stored")
async def test_delivery_records_exist_exactly_with_their_entries(trusted: Operator) -> None:
    alice = await trusted.add_bal("alice")
    bob, carol = await trusted.add_bal("bob"), await trusted.add_bal("carol")
    assert (await send_one(trusted, alice, [bob, carol, TRUSTED_REMOTE]))[0] == 250
    assert (await send_one(trusted, alice, [bob]))[0] == 250
    async with trusted.running.services.db.read() as s:  # type: ignore[union-attr]
        entries = sorted((r[0], r[1]) for r in (await s.execute(text(
            "SELECT b.address, e.uid FROM mailbox_entry e JOIN folder f ON f.id = e.folder_id "
            "JOIN bal b ON b.id = f.bal_id"))).all())
        rows = [(r[0], r[1]) for r in (await s.execute(text(
            "SELECT bal, session FROM audit WHERE event = 'delivery.local' ORDER BY id"))).all()]
        queue_ids = (await s.execute(text("SELECT id FROM outbound_queue"))).scalars().all()
    local = await trusted.audit_rows("delivery.local")
    assert entries == [(bob, 1), (bob, 2), (carol, 1)]
    assert sorted((bal, d["uid"]) for (bal, _), d in zip(rows, local, strict=True)) == entries
    assert all(d["from"] == alice and d["size"] > 0 and "subject" not in d for d in local)
    queued = await trusted.audit_rows("delivery.queued")
    assert [(q["domain"], q["queue_id"]) for q in queued] == [
        ("mssante.apicrypt.org", queue_ids[0])]
    assert len({session for _, session in rows}) == 2

    await sql(trusted, *refuse_entries())
    assert (await send_one(trusted, alice, [carol, TRUSTED_REMOTE]))[0] == 451
    assert len(await trusted.audit_rows("delivery.local")) == 3
    assert len(await trusted.audit_rows("delivery.queued")) == 1
    assert await count(trusted, "outbound_queue") == 1


async def test_recipients_of_the_day_are_kept_only_while_a_budget_is_set(
        operator: Operator, budgeted: Operator) -> None:
    """R18 reads the sender's distinct recipients of the day; without a daily budget
    nothing reads them, so none is kept."""
    for op, kept in ((operator, 0), (budgeted, 1)):
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        code, _ = await send_one(op, alice, [bob])
        assert code == 250
        assert await count(op, "sent_recipient") == kept
