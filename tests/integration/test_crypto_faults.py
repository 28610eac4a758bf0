"""Encryption at rest when something is wrong: a tampered blob, a blob of an
unknown format version, a data key that fails to unwrap, and a KEK file that
is readable by group or others, of the wrong length or missing.

The faults are real: bytes changed in the database rows, modes and lengths of
the real KEK file; the clients are imaplib, smtplib and the `mss` command.
A damaged message is never served and never hides the others (FETCH sends
what it can and ends `NO [CORRUPTION]`); mail for a BAL whose key cannot be
unwrapped gets `451 4.3.0` and nothing is stored; a bad KEK file stops start-up
with an error naming `keys.kek`.

Ref: docs/architecture.md "Encryption at rest"; RFC 5530 3 (CORRUPTION);
RFC 5321 4.2.5 (451 after DATA).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from server.app import start
from server.config import ConfigError
from tests.integration.helpers import fetch_all, send
from tests.protocol.imap_support import Raw, in_thread
from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, Operator, drop_pg_database, make_operator

FETCH_LOG = "imap_store.imap.commands.fetch"
CORRUPT = b"F NO [CORRUPTION] Some messages could not be read"


async def _three_messages(op: Operator) -> tuple[str, str, list[str]]:
    """alice sends bob three messages; returns their content ids in UID order."""
    alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
    for n in range(1, 4):
        assert await send(op, alice, [bob], simple_message(alice, bob, f"m{n}",
                                                           f"body number {n}\n")) == {}
    async with op.running.services.db.read() as s:  # type: ignore[union-attr]
        cids = (await s.execute(text(
            "SELECT e.content_id FROM mailbox_entry e JOIN folder f ON f.id = e.folder_id "
            "WHERE f.bal_id = :b AND f.name = 'INBOX' ORDER BY e.uid"),
            {"b": op.bals[bob].bal_id})).scalars().all()
    return alice, bob, list(cids)


async def _rewrite(op: Operator, cid: str, column: str, change) -> None:  # noqa: ANN001
    async with op.running.services.db.write() as s:  # type: ignore[union-attr]
        blob = bytearray((await s.execute(text(
            f"SELECT {column} FROM message_content WHERE id = :i"), {"i": cid})).scalar_one())
        change(blob)
        await s.execute(text(f"UPDATE message_content SET {column} = :v WHERE id = :i"),
                        {"v": bytes(blob), "i": cid})


def _flip(at: int):  # noqa: ANN202
    def change(blob: bytearray) -> None:
        blob[at] ^= 0x01
    return change


def _version(byte: int):  # noqa: ANN202
    def change(blob: bytearray) -> None:
        blob[0] = byte
    return change


def _bodies(lines: list[bytes]) -> dict[int, bytes]:
    """MSN -> the FETCH response line (literal inlined) of each message."""
    return {int(line.split()[1]): line for line in lines if line.startswith(b"* ")}


async def _session(op: Operator, bob: str) -> Raw:
    raw = await in_thread(Raw, op, bob)
    assert (await in_thread(raw.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    return raw


@pytest.mark.server_error(FETCH_LOG, r"1 message\(s\) of BAL \d+ folder \d+ failed to decrypt, "
                                     r"UIDs \[2\]")
@pytest.mark.parametrize("fault", ["tampered", "unknown version"])
async def test_damaged_blob_is_never_served_nor_hides_the_others(operator: Operator,
                                                                 fault: str) -> None:
    _, bob, cids = await _three_messages(operator)
    await _rewrite(operator, cids[1], "body", _flip(40) if fault == "tampered" else _version(2))
    raw = await _session(operator, bob)
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1:3 (UID BODY.PEEK[])")
    assert lines[-1] == CORRUPT
    got = _bodies(lines)
    assert sorted(got) == [1, 3]
    assert b"body number 1" in got[1] and b"body number 3" in got[3]
    assert b"body number 2" not in b"".join(lines)
    # The meta is a blob of its own: ENVELOPE of the damaged message is still listed.
    envelopes = await in_thread(raw.cmd, b"E", b"FETCH 1:3 (UID ENVELOPE)")
    assert envelopes[-1] == b"E OK FETCH completed"
    assert [b'"m%d"' % n in envelopes[n - 1] for n in (1, 2, 3)] == [True, True, True]
    assert (await in_thread(raw.cmd, b"N", b"NOOP"))[-1] == b"N OK NOOP completed"
    raw.close()


async def test_damaged_meta_is_rebuilt_from_the_authenticated_body(operator: Operator) -> None:
    _, bob, cids = await _three_messages(operator)
    await _rewrite(operator, cids[2], "meta", _flip(20))
    raw = await _session(operator, bob)
    lines = await in_thread(raw.cmd, b"E", b"FETCH 3 (ENVELOPE)")
    assert lines[-1] == b"E OK FETCH completed" and b'"m3"' in lines[0]
    raw.close()


@pytest.mark.server_error(FETCH_LOG, r"3 message\(s\) of BAL \d+ folder \d+ failed to decrypt, "
                                     r"UIDs \[1, 2, 3\]")
@pytest.mark.server_error("mss.smtp", r"intake failed; message not stored")
async def test_data_key_that_fails_to_unwrap(operator: Operator) -> None:
    alice, bob, _ = await _three_messages(operator)
    bob_id = operator.bals[bob].bal_id
    async with operator.running.services.db.write() as s:  # type: ignore[union-attr]
        wrapped = bytearray((await s.execute(text(
            "SELECT wrapped FROM bal_key WHERE bal_id = :b"), {"b": bob_id})).scalar_one())
        wrapped[20] ^= 0x01
        await s.execute(text("UPDATE bal_key SET wrapped = :w WHERE bal_id = :b"),
                        {"w": bytes(wrapped), "b": bob_id})
    await operator.stop()  # nothing unwrapped stays in memory across a restart
    await operator.start()

    raw = await _session(operator, bob)
    for item in (b"BODY.PEEK[]", b"ENVELOPE"):
        lines = await in_thread(raw.cmd, b"F", b"FETCH 1:3 (UID " + item + b")")
        assert lines == [CORRUPT], (item, lines)
    raw.close()

    def deliver() -> tuple[int, bytes]:
        with submission(operator.ports["submission"], operator.client_context()) as c:
            c.login(alice, PASSWORD)
            c.mail(alice)
            assert c.rcpt(bob)[0] == 250
            return c.data(simple_message(alice, bob, "m4", "body number 4\n"))

    code, reply = await asyncio.to_thread(deliver)
    assert (code, reply[:5]) == (451, b"4.3.0")
    async with operator.running.services.db.read() as s:  # type: ignore[union-attr]
        stored = (await s.execute(text(
            "SELECT count(*) FROM message_content WHERE bal_id = :b"), {"b": bob_id})).scalar()
    assert stored == 3
    # Another BAL's key is untouched: its mail still flows both ways.
    assert await send(operator, bob, [alice], simple_message(bob, alice, "reply")) == {}
    assert list(await fetch_all(operator, alice)) == [1]


KEK_FAULTS = {
    "group-readable": (0o640, 32),
    "other-readable": (0o604, 32),
    "31 bytes": (0o600, 31),
    "33 bytes": (0o600, 33),
    "empty": (0o600, 0),
    "missing": (None, 0),
}


@pytest.mark.parametrize("fault", list(KEK_FAULTS))
async def test_bad_kek_file_stops_start_naming_the_key(tmp_path: Path, fault: str) -> None:
    op = await make_operator(tmp_path)
    try:
        kek = op.directory / "keys" / "kek"
        mode, size = KEK_FAULTS[fault]
        if mode is None:
            kek.unlink()
        else:
            kek.write_bytes(os.urandom(size))
            kek.chmod(mode)
        with pytest.raises(ConfigError, match=r"^keys\.kek: "):
            await start(op.cfg)
        env = {**os.environ, "MSS_CONFIG": str(op.directory / "mss.toml")}
        for verb in (["serve"], ["bal", "list"]):
            done = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "server.cli", *verb], env=env,
                capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, (verb, done.stderr)
            assert done.stderr.startswith("mss: error: keys.kek: "), (verb, done.stderr)
            assert "Traceback" not in done.stderr
    finally:
        if op.pg_name:
            await drop_pg_database(op.pg_name)
