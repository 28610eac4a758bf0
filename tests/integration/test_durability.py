"""Commit failures and crypto-shredding.

The fault is a real database refusal, not a mock: a trigger makes the database
refuse the last insert of the delivery transaction (and, on PostgreSQL, a
deferred constraint trigger makes COMMIT itself fail).

Ref: RFC 5321 4.2.5 (451 after DATA); docs/architecture.md "Encryption at rest".
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from imap_store.store.crypto import DecryptionError
from tests.integration.helpers import fetch_all, send
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, Operator, is_postgres

SQLITE_FAULT = ("CREATE TRIGGER fault BEFORE INSERT ON mailbox_entry "
                "BEGIN SELECT RAISE(ABORT, 'database is read-only'); END")
PG_FAULT = (
    "CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'database is read-only'; END $$",
    "CREATE CONSTRAINT TRIGGER fault AFTER INSERT ON mailbox_entry "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fault()",
)


async def _sql(op: Operator, *statements: str) -> None:
    async with op.running.services.db.write() as s:  # type: ignore[union-attr]
        for stmt in statements:
            await s.execute(text(stmt))


async def _count(op: Operator, table: str) -> int:
    async with op.running.services.db.read() as s:  # type: ignore[union-attr]
        return int((await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _send_code(op: Operator, sender: str, rcpt: str) -> tuple[int, bytes]:
    def run() -> tuple[int, bytes]:
        with submission(op.ports["submission"], op.client_context()) as c:
            c.login(sender, PASSWORD)
            c.mail(sender)
            c.rcpt(rcpt)
            return c.data(simple_message(sender, rcpt))
    return await asyncio.to_thread(run)


async def test_commit_failure_gives_451_and_stores_nothing(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    if is_postgres():
        await _sql(operator, *PG_FAULT)
    else:
        await _sql(operator, SQLITE_FAULT)
    code, text_ = await _send_code(operator, alice, bob)
    assert (code, text_[:5]) == (451, b"4.3.0")
    assert await _count(operator, "message_content") == 0
    assert await _count(operator, "mailbox_entry") == 0
    async with operator.running.services.db.read() as s:  # type: ignore[union-attr]
        uidnext = (await s.execute(text(
            "SELECT uidnext FROM folder WHERE name='INBOX' AND bal_id=:b"),
            {"b": operator.bals[bob].bal_id})).scalar_one()
    assert uidnext == 1
    await _sql(operator, "DROP TRIGGER fault ON mailbox_entry" if is_postgres()
               else "DROP TRIGGER fault")
    code, _ = await _send_code(operator, alice, bob)
    assert code == 250
    assert list(await fetch_all(operator, bob)) == [1]


async def test_bal_delete_shreds_keys_and_content(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await send(operator, alice, [bob], simple_message(alice, bob, "secret"))
    services = operator.running.services  # type: ignore[union-attr]
    bob_id = operator.bals[bob].bal_id
    async with services.db.read() as s:
        cid, body, version = (await s.execute(text(
            "SELECT id, body, key_version FROM message_content WHERE bal_id=:b"),
            {"b": bob_id})).one()
        wrapped = bytes((await s.execute(text(
            "SELECT wrapped FROM bal_key WHERE bal_id=:b"), {"b": bob_id})).scalar_one())
    env = {**os.environ, "MSS_CONFIG": str(operator.directory / "mss.toml")}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "server.cli", "bal",
                                   "delete", bob], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert await _count(operator, f"bal_key WHERE bal_id = {bob_id}") == 0
    assert await _count(operator, f"message_content WHERE bal_id = {bob_id}") == 0
    services.keys.forget(bob_id)
    async with services.db.read() as s:
        with pytest.raises(DecryptionError):
            key = await services.keys.get(s, bob_id, version)
            key.open(cid, bytes(body))
    if not is_postgres():
        db_files = list((operator.directory / "data").glob("mss.sqlite3*"))
        assert db_files
        for f in db_files:
            assert wrapped not in f.read_bytes(), f
    assert (await services.delivery.lookup(bob)) is None
