"""Retention per folder (R25) driven by `mss jobs run retention --now ...`, with real
IMAP clients: messages APPENDed with their internal dates, an IMAP session selected
on the folder while the job runs in another store (as `mss jobs run` does).

What is checked: retention purges exactly the messages past their
period, per folder, and nothing in a folder without a period; an IMAP session
selected on the folder sees the expunges.

Ref: R25; RFC 3501 6.3.11 (APPEND date-time), 7.4.1 (EXPUNGE response).
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server import config as config_mod
from tests.integration.helpers import imaps
from tests.integration.lifecycle_support import mss, run_job, scheduler_settled, sql
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, make_operator, serving

DAY = timedelta(days=1)


async def _operator(tmp_path: Path) -> Operator:
    """An operator whose ORG BALs keep their Trash 10 days (`[retention] by_type`)."""
    op = await make_operator(tmp_path)
    path = op.directory / "mss.toml"
    path.write_text(path.read_text().replace("by_type = {}", "by_type = { ORG = { Trash = 10 } }"))
    op.cfg = config_mod.load(path)
    assert op.cfg.retention.by_type == {"ORG": {"Trash": 10}}
    return op


def _append(op: Operator, user: str, folder: str, ages: list[int],
            now: datetime) -> dict[int, int]:
    """APPEND one message per age (days before `now`); age -> UID."""
    client = imaps(op, user)
    try:
        if folder not in ("INBOX", "Trash", "Junk"):
            client.create(folder)
        uids = {}
        for age in ages:
            msg = simple_message(user, user, f"{age} days old")
            typ, data = client.append(folder, "", now - age * DAY, msg)
            assert typ == "OK", data
            uids[age] = int(data[0].split()[2].rstrip(b"]"))  # [APPENDUID v uid]
        return uids
    finally:
        client.logout()


def _uids(client: imaplib.IMAP4_SSL) -> list[int]:
    _typ, data = client.uid("SEARCH", "ALL")
    return [int(u) for u in data[0].split()]


def _expunges_seen(client: imaplib.IMAP4_SSL, wanted: int) -> list[bytes]:
    """NOOP until `wanted` untagged EXPUNGE responses arrived (5 s at most)."""
    seen: list[bytes] = []
    deadline = time.monotonic() + 5
    while len(seen) < wanted and time.monotonic() < deadline:
        client.noop()
        seen += [e for e in client.response("EXPUNGE")[1] if e is not None]
        time.sleep(0.1)
    return seen


async def test_retention_purges_what_is_past_its_period_and_sessions_see_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(await _operator(tmp_path)) as op:
        bob, cabinet = await op.add_bal("bob"), await op.add_bal("cabinet", "ORG")
        await scheduler_settled(op, "retention")
        now = datetime.now(UTC).replace(microsecond=0)
        trash = await asyncio.to_thread(_append, op, bob, "Trash", [40, 35, 25, 1], now)
        junk = await asyncio.to_thread(_append, op, bob, "Junk", [45, 10], now)
        inbox = await asyncio.to_thread(_append, op, bob, "INBOX", [400, 100], now)
        archive = await asyncio.to_thread(_append, op, bob, "Archives", [400, 50], now)
        org = await asyncio.to_thread(_append, op, cabinet, "Trash", [15, 5], now)
        code, _ = await mss(op, capsys, "bal", "set", bob, "--retention", "Archives=100")
        assert code == 0
        assert json.loads((await mss(op, capsys, "--json", "bal", "show", bob))[1])[
            "retention"] == {"Archives": 100}

        session = await asyncio.to_thread(imaps, op, bob)
        try:
            assert (await asyncio.to_thread(session.select, "Trash"))[0] == "OK"
            assert await asyncio.to_thread(_uids, session) == sorted(trash.values())
            tomorrow = now + DAY  # today's period was run by the scheduler at start
            out = await run_job(op, capsys, "retention", tomorrow)
            assert "5 message(s) purged from 4 folder(s)" in out, out
            expunged = await asyncio.to_thread(_expunges_seen, session, 2)
            assert len(expunged) == 2  # ordinary "* n EXPUNGE" responses
            assert await asyncio.to_thread(_uids, session) == [trash[25], trash[1]]
        finally:
            await asyncio.to_thread(session.logout)

        rows = await sql(op, "SELECT bal, detail FROM audit WHERE event = 'retention.purged' "
                         "ORDER BY id")
        purged = {(bal, d["folder"]): (d["count"], d["uids"], d["days"])
                  for bal, d in ((r[0], json.loads(r[1])) for r in rows)}
        assert purged == {
            (bob, "Trash"): (2, sorted([trash[40], trash[35]]), 30),
            (bob, "Junk"): (1, [junk[45]], 30),
            (bob, "Archives"): (1, [archive[400]], 100),
            (cabinet, "Trash"): (1, [org[15]], 10)}
        assert "INBOX" not in {f for _b, f in purged}  # no period: nothing purged
        left = await sql(op, "SELECT f.name, e.uid FROM mailbox_entry e JOIN folder f ON "
                         "f.id = e.folder_id JOIN bal b ON b.id = f.bal_id WHERE b.address = "
                         ":a ORDER BY f.name, e.uid", a=bob)
        assert sorted(left) == sorted(
            [("Archives", archive[50]), ("INBOX", inbox[400]), ("INBOX", inbox[100]),
             ("Junk", junk[10]), ("Trash", trash[25]), ("Trash", trash[1])])
        for row in rows:
            assert "days old" not in row[1]  # never content

        # Later the same UTC day (three hours on, or the day's last second when the test
        # runs after 21:00 UTC): the job's period is the day.
        later = min(tomorrow + timedelta(hours=3),
                    tomorrow.replace(hour=23, minute=59, second=59))
        again = await run_job(op, capsys, "retention", later)
        assert "already done" in again
        assert "0 message(s) purged" in await run_job(op, capsys, "retention", tomorrow + DAY)
        code, out = await mss(op, capsys, "--json", "jobs", "list")
        jobs = {j["name"]: j for j in map(json.loads, out.splitlines())}
        assert code == 0 and set(jobs) >= {"inactivity", "retention", "trustlist-refresh"}
        last = jobs["retention"]
        assert last["every"] == 86400 and last["ok"] is True
        assert last["last_period"] == (tomorrow + DAY).date().isoformat()
        assert last["result"] == "0 message(s) purged from 0 folder(s)"
        assert last["next_run"] is not None and jobs["queue-expire"]["next_run"] is None
