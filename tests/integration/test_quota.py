"""Per-BAL quotas (R25): SMTP `452 4.2.2`, IMAP QUOTA (RFC 9208)
and `NO [OVERQUOTA]`, exact usage under concurrent deliveries and expunges, and the
`quota-warn` notices, with real clients on SQLite and PostgreSQL.

Ref: R25; RFC 9208; RFC 1870 6.2; RFC 3463 3.3.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import random
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import aiosmtplib
from sqlalchemy import text

from imap_store.store.quota import QuotaStore
from imap_store.store.trustlists import TrustListStore
from server import config as config_mod
from server.job_types import JobContext
from server.jobs import JOBS
from tests.integration.helpers import imaps, send
from tests.integration.test_cli import mss
from tests.protocol.smtp_client import simple_message, transaction
from tests.support import PASSWORD, Operator, make_operator, serving

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def _limit(op: Operator, address: str, *, octets: int | None = None,
                 messages: int | None = None) -> None:
    assert op.running is not None
    await QuotaStore(op.running.services.db).set_limits(op.bals[address].bal_id, octets, messages)


def _quotaroot(c: imaplib.IMAP4_SSL, mailbox: str = "INBOX") -> dict[str, tuple[int, int]]:
    """GETQUOTAROOT's QUOTA response as {resource: (usage, limit)}."""
    typ, _ = c._simple_command("GETQUOTAROOT", mailbox)  # imaplib has no wrapper for it
    assert typ == "OK"
    roots = c.untagged_responses.pop("QUOTAROOT", [])
    quota = c.untagged_responses.pop("QUOTA", [])
    assert roots == [f'"{mailbox}" ""'.encode()], roots
    assert len(quota) == 1, quota
    found = re.fullmatch(rb'"" \((.*)\)', quota[0])
    assert found, quota
    words = found[1].split()
    return {words[i].decode(): (int(words[i + 1]), int(words[i + 2]))
            for i in range(0, len(words), 3)}


def _sizes(c: imaplib.IMAP4_SSL) -> list[int]:
    """RFC822.SIZE of every message of every folder."""
    sizes: list[int] = []
    typ, listing = c.list()
    assert typ == "OK"
    for line in listing:
        assert isinstance(line, bytes)
        name = line.rsplit(b' "/" ', 1)[1].decode()
        typ, data = c.select(name, readonly=True)
        assert typ == "OK"
        if int(data[0]) == 0:
            continue
        typ, rows = c.fetch("1:*", "(RFC822.SIZE)")
        sizes += [int(m[1]) for row in rows if isinstance(row, bytes)
                  and (m := re.search(rb"RFC822\.SIZE (\d+)", row))]
    return sizes


async def test_full_bal_refuses_rcpt_452_and_append_overquota(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _limit(operator, bob, messages=3)
    for i in range(3):
        assert await send(operator, alice, [bob], simple_message(alice, bob, f"m{i}")) == {}
    out = await asyncio.to_thread(
        transaction, operator.ports["submission"], operator.client_context(), alice, PASSWORD,
        alice, [bob], simple_message(alice, bob, "one too many"))
    assert out["rcpt"] == [(452, "4.2.2", "Mailbox full, try again later")]

    def imap_side() -> None:
        c = imaps(operator, bob)
        typ, data = c.append("INBOX", None, None, simple_message(alice, bob, "x"))
        assert typ == "NO" and data[-1].startswith(b"[OVERQUOTA]"), data
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.copy("1", "Sent")
        assert typ == "NO" and data[-1].startswith(b"[OVERQUOTA]"), data
        # MOVE inside the BAL adds nothing: a full BAL can still be tidied up.
        assert c._simple_command("MOVE", "1", "Trash")[0] == "OK"
        assert _quotaroot(c) == {"MESSAGE": (3, 3)}
        c.logout()

    await asyncio.to_thread(imap_side)


async def test_room_made_by_an_expunge_is_seen_by_the_next_rcpt_at_once(
        operator: Operator) -> None:
    """The recipient cache keeps a BAL's usage for a while; a 452 is never answered
    from it: a full BAL that was just emptied a little accepts the next message."""
    assert operator.running is not None
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _limit(operator, bob, messages=2)
    operator.running.services.delivery.recipients.ttl = 3600  # the cache outlives the test
    for i in range(2):
        assert await send(operator, alice, [bob], simple_message(alice, bob, f"m{i}")) == {}
    full = await asyncio.to_thread(
        transaction, operator.ports["submission"], operator.client_context(), alice, PASSWORD,
        alice, [bob], simple_message(alice, bob, "one too many"))
    assert full["rcpt"] == [(452, "4.2.2", "Mailbox full, try again later")]

    def expunge_one() -> None:
        c = imaps(operator, bob)
        c.select("INBOX")
        assert c.store("1", "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        c.logout()

    await asyncio.to_thread(expunge_one)
    assert await send(operator, alice, [bob], simple_message(alice, bob, "fits again")) == {}
    again = await asyncio.to_thread(
        transaction, operator.ports["submission"], operator.client_context(), alice, PASSWORD,
        alice, [bob], simple_message(alice, bob, "full again"))
    assert again["rcpt"] == [(452, "4.2.2", "Mailbox full, try again later")]


async def test_size_hint_beyond_room_is_refused_at_rcpt(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _limit(operator, bob, octets=200_000)
    ctx = operator.client_context()
    out = await asyncio.to_thread(transaction, operator.ports["submission"], ctx, alice,
                                  PASSWORD, alice, [bob], None, ("SIZE=300000",))
    assert out["rcpt"] == [(452, "4.2.2", "Mailbox full, try again later")]
    out = await asyncio.to_thread(transaction, operator.ports["submission"], ctx, alice,
                                  PASSWORD, alice, [bob], simple_message(alice, bob),
                                  ("SIZE=1000",))
    assert out["rcpt"] == [(250, "2.1.5", "Recipient OK")] and out["data"][0] == 250


async def _deliver_many(op: Operator, sender: str, rcpt: str, count: int,
                        connections: int) -> None:
    """`count` messages of varied sizes over `connections` concurrent aiosmtplib sessions."""
    rng = random.Random(14)
    bodies = [simple_message(sender, rcpt, f"c{i}", "x" * rng.randrange(10, 40_000) + "\n")
              for i in range(count)]

    async def one_connection(share: list[bytes]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=op.ports["submission"],
                                 tls_context=op.client_context(), start_tls=True, timeout=30)
        await client.connect()
        await client.login(sender, PASSWORD)
        for body in share:
            errors, _ = await client.sendmail(sender, [rcpt], body)
            assert errors == {}
        await client.quit()

    await asyncio.gather(*(one_connection(bodies[i::connections]) for i in range(connections)))


async def test_usage_exact_after_100_concurrent_deliveries_and_50_expunges(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _limit(operator, bob, octets=50_000_000, messages=10_000)
    await _deliver_many(operator, alice, bob, 60, 6)

    def expunge_50() -> None:
        """Delete and expunge 50 messages, in several EXPUNGEs, while mail arrives."""
        c = imaps(operator, bob)
        assert c.select("INBOX")[0] == "OK"
        assert c.uid("COPY", "1:5", "Sent")[0] == "OK"  # entries in another folder count too
        for start in range(1, 51, 10):
            assert c.uid("STORE", f"{start}:{start + 9}", "+FLAGS", r"(\Deleted)")[0] == "OK"
            assert c.expunge()[0] == "OK"
        c.logout()

    await asyncio.gather(_deliver_many(operator, alice, bob, 40, 5),
                         asyncio.to_thread(expunge_50))

    def read() -> tuple[dict[str, tuple[int, int]], list[int]]:
        c = imaps(operator, bob)
        try:
            return _quotaroot(c), _sizes(c)
        finally:
            c.logout()

    quota, sizes = await asyncio.to_thread(read)
    assert len(sizes) == 100 - 50 + 5
    assert quota["MESSAGE"] == (len(sizes), 10_000)
    assert quota["STORAGE"] == (-(-sum(sizes) // 1024), 50_000_000 // 1024)
    assert operator.running is not None
    counters, counted = await QuotaStore(operator.running.services.db).recount(
        operator.bals[bob].bal_id)
    assert (counters.used_bytes, counters.used_messages) == counted == (sum(sizes), len(sizes))


def _notices(op: Operator, user: str) -> list[str]:
    """Subjects of the near-quota notices in the INBOX."""
    c = imaps(op, user)
    try:
        c.select("INBOX", readonly=True)
        typ, data = c.search(None, "FROM", "postmaster")
        ids = data[0].split()
        subjects = []
        for i in ids:
            typ, rows = c.fetch(i, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            raw = rows[0][1].decode().partition(":")[2].strip()
            subjects.append(str(make_header(decode_header(raw))))
        return subjects
    finally:
        c.logout()


async def _run_warn(op: Operator) -> str:
    assert op.running is not None
    ctx = JobContext(op.cfg, TrustListStore(op.running.services.db))
    result = await JOBS["quota-warn"].run(ctx, NOW)
    assert result.ok
    return result.message


async def test_quota_warn_notices_once_per_crossing(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _limit(operator, bob, messages=40)
    for i in range(32):  # 80 %
        assert await send(operator, alice, [bob], simple_message(alice, bob, f"m{i}")) == {}
    assert await _run_warn(operator) == "1 near-quota notice(s) delivered"
    assert await _run_warn(operator) == "0 near-quota notice(s) delivered"
    for i in range(5):  # 33 (with the notice) + 5 = 38 of 40: 95 %
        assert await send(operator, alice, [bob], simple_message(alice, bob, f"n{i}")) == {}
    assert await _run_warn(operator) == "1 near-quota notice(s) delivered"
    assert await _run_warn(operator) == "0 near-quota notice(s) delivered"
    subjects = await asyncio.to_thread(_notices, operator, bob)
    assert len(subjects) == 2
    assert "80 %" in subjects[0] and "Mailbox 80% full" in subjects[0]
    assert "95 %" in subjects[1] and "Mailbox 95% full" in subjects[1]

    def drop_under_80() -> None:
        c = imaps(operator, bob)
        c.select("INBOX")
        assert c.store("1:20", "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        c.logout()

    await asyncio.to_thread(drop_under_80)  # 39 - 20 = 19 of 40
    assert await _run_warn(operator) == "0 near-quota notice(s) delivered"
    for i in range(13):  # 32 of 40: 80 % again
        assert await send(operator, alice, [bob], simple_message(alice, bob, f"p{i}")) == {}
    assert await _run_warn(operator) == "1 near-quota notice(s) delivered"
    assert await _run_warn(operator) == "0 near-quota notice(s) delivered"
    assert len(await operator.audit_rows("quota.warning")) == 3


def _command(c: imaplib.IMAP4_SSL, *args: str) -> tuple[str, list[bytes]]:
    typ, data = c._simple_command(*args)
    return typ, [d for d in data if isinstance(d, bytes)]


async def test_quota_commands_without_and_with_limits(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    assert await send(operator, alice, [bob], simple_message(alice, bob, "one")) == {}

    def no_limit() -> None:
        c = imaps(operator, bob)
        caps = c.capabilities
        assert {"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"} <= set(caps)
        assert "QUOTASET" not in caps
        assert _command(c, "GETQUOTAROOT", "INBOX")[0] == "OK"
        assert c.untagged_responses.pop("QUOTAROOT") == [b'"INBOX"']  # no root: no limit
        assert "QUOTA" not in c.untagged_responses
        typ, data = _command(c, "GETQUOTA", '""')
        assert typ == "NO" and data[-1].startswith(b"[NONEXISTENT]")
        typ, data = _command(c, "GETQUOTAROOT", "Nowhere")
        assert typ == "NO" and data[-1].startswith(b"[NONEXISTENT]")
        typ, data = _command(c, "SETQUOTA", '""', "(STORAGE 10)")
        assert typ == "NO" and data[-1].startswith(b"[NOPERM]")
        c.logout()

    await asyncio.to_thread(no_limit)
    await _limit(operator, bob, octets=10_000, messages=0)

    def limited() -> None:
        c = imaps(operator, bob)
        assert _command(c, "GETQUOTA", '""')[0] == "OK"
        (line,) = c.untagged_responses.pop("QUOTA")
        size = sum(_sizes(c))
        assert line == f'"" (STORAGE {-(-size // 1024)} 9)'.encode()  # 10,000 // 1024
        typ, data = _command(c, "GETQUOTA", '"other"')
        assert typ == "NO" and data[-1].startswith(b"[NONEXISTENT]")
        assert _quotaroot(c, "Sent") == {"STORAGE": (-(-size // 1024), 9)}
        # RFC 9208: STATUS DELETED and DELETED-STORAGE say what an EXPUNGE would free.
        typ, data = c.status("INBOX", "(DELETED DELETED-STORAGE)")
        assert typ == "OK" and data == [b'"INBOX" (DELETED 0 DELETED-STORAGE 0)']
        c.select("INBOX")
        assert c.store("1", "+FLAGS", r"(\Deleted)")[0] == "OK"
        typ, data = c.status("INBOX", "(DELETED-STORAGE DELETED MESSAGES)")
        kib = -(-size // 1024)
        assert data == [f'"INBOX" (DELETED-STORAGE {kib} DELETED 1 MESSAGES 1)'.encode()]
        c.logout()

    await asyncio.to_thread(limited)


async def test_config_default_applies_and_bal_set_overrides(tmp_path: Path) -> None:
    op = await make_operator(tmp_path)
    path = op.directory / "mss.toml"
    path.write_text(path.read_text().replace("default_messages = 0", "default_messages = 2"))
    op.cfg = config_mod.load(path)
    async with serving(op):
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        for i in range(2):
            assert await send(op, alice, [bob], simple_message(alice, bob, f"m{i}")) == {}
        out = await asyncio.to_thread(transaction, op.ports["submission"],
                                      op.client_context(), alice, PASSWORD, alice, [bob],
                                      simple_message(alice, bob))
        assert out["rcpt"] == [(452, "4.2.2", "Mailbox full, try again later")]
        env = {"MSS_CONFIG": str(path)}
        done = await asyncio.to_thread(mss, "bal", "set", bob, "--quota-messages", "0",
                                       "--quota-bytes", "1000000", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        bad = await asyncio.to_thread(mss, "bal", "set", bob, "--quota-bytes", "-1",
                                      cwd=tmp_path, env=env)
        assert bad.returncode == 2 and "--quota-bytes" in bad.stderr
        shown = await asyncio.to_thread(mss, "--json", "bal", "show", bob, cwd=tmp_path,
                                        env=env)
        record = json.loads(shown.stdout)
        assert record["quota_limit_messages"] == 0 and record["quota_limit_bytes"] == 1_000_000
        assert record["quota_used_messages"] == 2
        await asyncio.sleep(1.1)  # the gateway's recipient cache (1 s) sees the change
        assert await send(op, alice, [bob], simple_message(alice, bob, "m3")) == {}
        assert (await op.audit_rows("bal.updated"))[-1]["quota_messages"] == 0
        job = await asyncio.to_thread(mss, "jobs", "run", "quota-warn", "--now",
                                      "2026-11-30T12:00:00+00:00", cwd=tmp_path, env=env)
        assert job.returncode == 0 and "0 near-quota notice(s)" in job.stdout, job.stderr


async def test_counters_follow_append_copy_move_rename_and_folder_delete(
        operator: Operator) -> None:
    alice = await operator.add_bal("alice")
    assert operator.running is not None
    quotas = QuotaStore(operator.running.services.db)
    bal_id = operator.bals[alice].bal_id

    async def agree(messages: int) -> None:
        counters, counted = await quotas.recount(bal_id)
        assert (counters.used_bytes, counters.used_messages) == counted
        assert counted[1] == messages
        # Each folder's own counter too: STATUS MESSAGES and the sessions' check for
        # expunges made elsewhere read it instead of counting the entries.
        async with quotas.db.read() as s:
            rows = (await s.execute(text(
                "SELECT f.name, f.used_messages, (SELECT count(*) FROM mailbox_entry e "
                "WHERE e.folder_id = f.id) FROM folder f WHERE f.bal_id = :b"),
                {"b": bal_id})).all()
        assert all(r[1] == r[2] for r in rows), rows

    def imap(*steps: tuple[str, ...]) -> None:
        c = imaps(operator, alice)
        for step in steps:
            if step[0] == "APPEND":
                typ, _ = c.append(step[1], None, None, simple_message(alice, alice, step[2]))
            elif step[0] == "SELECT":
                typ, _ = c.select(step[1])
            else:
                typ, _ = c._simple_command(*step)
            assert typ == "OK", step
        c.logout()

    await asyncio.to_thread(imap, *(("APPEND", "INBOX", "x" * n) for n in (10, 200, 3000)))
    await agree(3)
    await asyncio.to_thread(imap, ("CREATE", "Dossiers"), ("SELECT", "INBOX"),
                            ("UID", "COPY", "1:2", "Dossiers"), ("UID", "MOVE", "3", "Trash"))
    await agree(5)
    await asyncio.to_thread(imap, ("SELECT", "Dossiers"), ("UID", "STORE", "1", "+FLAGS",
                                                         "(\\Deleted)"), ("EXPUNGE",),
                            ("APPEND", "Dossiers", "y" * 50))
    await agree(5)
    await asyncio.to_thread(imap, ("RENAME", "INBOX", "Ancien"))  # RFC 3501 6.3.5
    await agree(5)
    await asyncio.to_thread(imap, ("DELETE", "Dossiers"), ("DELETE", "Ancien"))
    await agree(1)
    assert (await quotas.state(bal_id)).used_messages == 1
