"""Commit failures and crypto-shredding.

The fault is a real database refusal, not a mock: a trigger makes the database
refuse the last insert of the delivery transaction (and, on PostgreSQL, a
deferred constraint trigger makes COMMIT itself fail).

Ref: RFC 5321 4.2.5 (451 after DATA); docs/architecture.md "Encryption at rest".
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from imap_store.store.crypto import DecryptionError
from imap_store.store.keys import DataKeys, KeyWatch
from tests.integration.helpers import fetch_all, imaps, send
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


@pytest.mark.server_error("mss.smtp", r"intake failed; message not stored")
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
    """`mss bal delete` run as its own process (the real CLI) against the
    database of the running server: within the 5 s an admin verb takes to reach
    a running server, the server holds no key of that BAL any more, cannot
    decrypt the blob it served a moment before, serves nothing of the BAL to a
    session opened before the deletion, and no longer knows the address."""
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    marker = b"shred-marker-5a1c"
    await send(operator, alice, [bob], simple_message(alice, bob, "secret",
                                                      marker.decode() + "\n"))
    services = operator.running.services  # type: ignore[union-attr]
    bob_id = operator.bals[bob].bal_id
    assert marker in (await fetch_all(operator, bob))[1]
    async with services.db.read() as s:
        cid, body, version = (await s.execute(text(
            "SELECT id, body, key_version FROM message_content WHERE bal_id=:b"),
            {"b": bob_id})).one()
        wrapped = bytes((await s.execute(text(
            "SELECT wrapped FROM bal_key WHERE bal_id=:b"), {"b": bob_id})).scalar_one())
        cached = await services.keys.get(s, bob_id, version)
    assert cached.open(cid, bytes(body)).count(marker) == 1
    assert services.keys.holds(bob_id) and services.keys.holds(operator.bals[alice].bal_id)

    session = await asyncio.to_thread(imaps, operator, bob)
    assert (await asyncio.to_thread(session.select, "INBOX"))[0] == "OK"
    env = {**os.environ, "MSS_CONFIG": str(operator.directory / "mss.toml")}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "server.cli", "bal",
                                   "delete", bob], env=env, capture_output=True, text=True,
                                   timeout=120)
    assert done.returncode == 0, done.stderr
    deleted_at = time.monotonic()
    for _ in range(100):  # 5 s: how long an admin verb may take to reach a running server
        if not services.keys.holds(bob_id):
            break
        await asyncio.sleep(0.05)
    assert not services.keys.holds(bob_id)
    assert time.monotonic() - deleted_at < 5
    assert services.keys.holds(operator.bals[alice].bal_id)  # only the deleted BAL's key

    assert await _count(operator, f"bal_key WHERE bal_id = {bob_id}") == 0
    assert await _count(operator, f"message_content WHERE bal_id = {bob_id}") == 0
    async with services.db.read() as s:
        with pytest.raises(DecryptionError):
            await services.keys.get(s, bob_id, version)

    def fetch_after() -> bytes:
        try:
            typ, data = session.fetch("1", "(BODY.PEEK[])")
        except (imaplib.IMAP4.abort, OSError) as exc:  # BYE: the mailbox is gone
            return str(exc).encode()
        finally:
            with contextlib.suppress(Exception):
                session.logout()
        return repr((typ, data)).encode()

    assert marker not in await asyncio.to_thread(fetch_after)
    with pytest.raises(imaplib.IMAP4.error):
        await asyncio.to_thread(imaps, operator, bob)
    if not is_postgres():
        db_files = list((operator.directory / "data").glob("mss.sqlite3*"))
        assert db_files
        for f in db_files:
            assert wrapped not in f.read_bytes(), f
    assert (await services.delivery.lookup(bob)) is None


async def test_unwrapped_keys_leave_memory_when_their_time_is_up(operator: Operator) -> None:
    """Nothing has to ask for a key again for it to go: the watch drops keys
    past their time (`ttl`) by itself."""
    bob = await operator.add_bal("bob")
    services = operator.running.services  # type: ignore[union-attr]
    keys = DataKeys(services.keys.provider, ttl=0.3)
    async with services.db.read() as s:
        await keys.get(s, operator.bals[bob].bal_id, 1)
    assert keys.holds(operator.bals[bob].bal_id)
    watch = asyncio.create_task(KeyWatch(services.db, keys, interval=0.05).run())
    try:
        await asyncio.sleep(0.2)
        assert keys.holds(operator.bals[bob].bal_id)
        await asyncio.sleep(0.4)
        assert not keys.holds(operator.bals[bob].bal_id)
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
