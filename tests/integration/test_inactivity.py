"""The inactivity lifecycle (R28) driven by `mss jobs run inactivity --now ...`, with
real clients: the directory search (`mss directory search`), IMAP (imaplib) for the
notices, SMTP (smtplib) for the `550 5.1.1` after deletion.

What is checked: a BAL idle 61 days is unpublished (`bal show` says so,
the directory search no longer finds it, the outbox has the event); notices arrive at
D-30 and D-7 at the notice address, read over IMAP; at day 366 it is deleted, RCPT gets
`550 5.1.1`, and its stored ciphertext can no longer be decrypted; a login on day 200
resets everything; running a job twice for one day changes nothing more.

Ref: R28; docs/architecture.md "Time".
"""

from __future__ import annotations

import asyncio
import email
import imaplib
import time
from datetime import UTC, datetime, timedelta
from email.policy import default

import pytest

from imap_store.store.accounts import AccountError
from imap_store.store.crypto import DecryptionError
from tests.integration.helpers import imaps
from tests.integration.lifecycle_support import (
    mss,
    run_job,
    scheduler_settled,
    show,
    sql,
    write_sql,
)
from tests.protocol.smtp_client import simple_message, submission
from tests.support import DOMAIN, PASSWORD, Operator

DAY = timedelta(days=1)


async def _idle_since(op: Operator, address: str, start: datetime) -> None:
    """Make `address` a BAL created at `start` and never used since (the test's clock)."""
    await write_sql(op, "UPDATE bal SET created_at = :t, last_login_at = NULL "
                    "WHERE address = :a", t=start, a=address)


def _notices(op: Operator, user: str) -> list[email.message.EmailMessage]:
    client = imaps(op, user)
    try:
        assert client.select("INBOX")[0] == "OK"
        _typ, data = client.uid("SEARCH", "ALL")
        found = []
        for uid in data[0].split():
            _typ, resp = client.uid("FETCH", uid, "(BODY.PEEK[])")
            found.append(email.message_from_bytes(resp[0][1], policy=default))
        return [m for m in found if "Suppression prochaine" in str(m["Subject"])]
    finally:
        client.logout()


def _rcpt(op: Operator, sender: str, rcpt: str) -> tuple[int, bytes]:
    with submission(op.ports["submission"], op.client_context()) as c:
        c.login(sender, PASSWORD)
        c.mail(sender)
        return c.rcpt(rcpt)


async def test_unpublish_notices_delete_and_a_login_resets(
        operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    op = operator
    alice, bob, carol = [await op.add_bal(n) for n in ("alice", "bob", "carol")]
    await scheduler_settled(op, "inactivity")
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - 400 * DAY  # alice: created 400 days ago, never used
    await _idle_since(op, alice, t0)
    assert (await mss(op, capsys, "bal", "set", alice, "--notice-address", bob))[0] == 0
    sent = await asyncio.to_thread(
        lambda: _send(op, bob, alice, simple_message(bob, alice, "for alice")))
    assert sent == {}
    assert (await mss(op, capsys, "directory", "search", alice))[0] == 0

    # Day 61: unpublished, mail still accepted; twice for one day changes nothing more.
    day61 = t0 + 61 * DAY
    out = await run_job(op, capsys, "inactivity", day61)
    assert "1 unpublished" in out
    # Later the same UTC day (five hours on, or the day's last second when the test
    # runs after 19:00 UTC): the job's period is the day.
    later = min(day61 + timedelta(hours=5), day61.replace(hour=23, minute=59, second=59))
    again = await run_job(op, capsys, "inactivity", later)
    assert "already done" in again
    shown = await show(op, capsys, alice)
    assert shown["state"] == "unpublished" and shown["published"] is False
    assert shown["last_login_at"] is None and shown["next_step"] == "notice"
    assert shown["next_step_at"].startswith((t0 + 335 * DAY).date().isoformat())
    assert (await mss(op, capsys, "directory", "search", alice))[0] == 1
    events = await sql(op, "SELECT published, reason FROM publication_event WHERE address = :a "
                       "ORDER BY id", a=alice)
    assert events[-1] == (False, "inactive")
    assert (await asyncio.to_thread(_rcpt, op, bob, alice))[0] == 250

    # Day 334: no notice; day 335: the D-30 notice; day 358: the D-7 notice.
    assert "0 noticed" in await run_job(op, capsys, "inactivity", t0 + 334 * DAY)
    assert "1 noticed" in await run_job(op, capsys, "inactivity", t0 + 335 * DAY)
    assert "0 noticed" in await run_job(op, capsys, "inactivity", t0 + 336 * DAY)
    assert "1 noticed" in await run_job(op, capsys, "inactivity", t0 + 358 * DAY)
    notices = await asyncio.to_thread(_notices, op, bob)
    assert len(notices) == 2
    for notice in notices:
        text = notice.get_content()
        assert alice in text and f"mss bal keep {alice}" in text
        assert "vaut opposition" in text and "counts as an objection" in text
        assert (t0 + 365 * DAY).date().isoformat() in text
        assert notice["Auto-Submitted"] == "auto-generated"
    steps = await sql(op, "SELECT detail FROM audit WHERE event = 'bal.lifecycle' AND bal = :a "
                      "ORDER BY id", a=alice)
    assert ['"days_before": 30' in s[0] for s in steps].count(True) == 1
    assert ['"days_before": 7' in s[0] for s in steps].count(True) == 1

    # Day 366: deleted; its ciphertext stays unreadable; later mail gets 550 5.1.1.
    alice_id = (await sql(op, "SELECT id FROM bal WHERE address = :a", a=alice))[0][0]
    assert await sql(op, "SELECT body FROM message_content WHERE bal_id = :b", b=alice_id)
    assert "1 deleted" in await run_job(op, capsys, "inactivity", t0 + 366 * DAY)
    assert not await sql(op, "SELECT id FROM bal WHERE address = :a", a=alice)
    assert not await sql(op, "SELECT version FROM bal_key WHERE bal_id = :b", b=alice_id)
    assert not await sql(op, "SELECT id FROM message_content WHERE bal_id = :b", b=alice_id)
    await _no_key(op, alice_id)
    # The server answers RCPT from its recipient cache for up to 1 s (`recipient_cache`):
    # a deletion made by another process (here the job's) is in force within that time.
    deadline = time.monotonic() + 1.5
    code, msg = await asyncio.to_thread(_rcpt, op, bob, alice)
    while code == 250 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        code, msg = await asyncio.to_thread(_rcpt, op, bob, alice)
    assert (code, msg[:5]) == (550, b"5.1.1")
    events = await sql(op, "SELECT published, reason FROM publication_event WHERE address = :a "
                       "ORDER BY id", a=alice)
    assert events[-1] == (False, "deleted (inactivity)")
    assert op.running is not None
    with pytest.raises(AccountError, match="reserved until"):  # [lifecycle] reserve_days
        await op.running.services.accounts.create_bal(alice, "PER", rpps="10000000001",
                                                      password=PASSWORD)

    # carol: created 200 days ago, unpublished at day 61, logs in on day 200 (now).
    c0 = now - 200 * DAY
    await _idle_since(op, carol, c0)
    assert "1 unpublished" in await run_job(op, capsys, "inactivity", c0 + 61 * DAY)
    assert (await show(op, capsys, carol))["published"] is False
    await asyncio.to_thread(lambda: imaps(op, carol).logout())
    shown = await show(op, capsys, carol)
    assert shown["published"] is True and shown["state"] == "active"
    assert shown["last_login_at"] is not None
    assert (await mss(op, capsys, "directory", "search", carol))[0] == 0
    out = await run_job(op, capsys, "inactivity", c0 + 259 * DAY)  # 59 days after the login
    assert (await show(op, capsys, carol))["published"] is True
    out = await run_job(op, capsys, "inactivity", c0 + 366 * DAY)
    assert "0 noticed" in out and "0 deleted" in out
    assert (await show(op, capsys, carol))["state"] == "unpublished"  # idle 166 days again
    assert await sql(op, "SELECT id FROM bal WHERE address = :a", a=carol)


def _send(op: Operator, sender: str, rcpt: str, message: bytes) -> dict:
    with submission(op.ports["submission"], op.client_context()) as c:
        c.login(sender, PASSWORD)
        return c.sendmail(sender, [rcpt], message)


async def _no_key(op: Operator, bal_id: int) -> None:
    assert op.running is not None
    keys = op.running.services.keys
    keys.forget(bal_id)
    async with op.running.services.db.read() as s:
        with pytest.raises(DecryptionError):
            await keys.current(s, bal_id)


async def test_keep_objects_and_notice_address_is_checked(
        operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    op = operator
    dave = await op.add_bal("dave")
    await scheduler_settled(op, "inactivity")
    t0 = datetime.now(UTC).replace(microsecond=0) - 400 * DAY
    await _idle_since(op, dave, t0)
    code, _ = await mss(op, capsys, "bal", "set", dave, "--notice-address",
                        "someone@not-in-the-trust-list.example")
    assert code == 1
    code, _ = await mss(op, capsys, "bal", "set", dave, "--notice-address", f"nobody@{DOMAIN}")
    assert code == 1
    assert "1 unpublished" in await run_job(op, capsys, "inactivity", t0 + 61 * DAY)
    assert "1 noticed" in await run_job(op, capsys, "inactivity", t0 + 340 * DAY)
    assert (await mss(op, capsys, "bal", "keep", dave))[0] == 0  # now: day 400
    shown = await show(op, capsys, dave)
    assert shown["state"] == "active" and shown["published"] is True
    assert shown["next_step"] == "unpublish"
    out = await run_job(op, capsys, "inactivity", datetime.now(UTC) + 30 * DAY)
    assert "0 unpublished" in out and "0 deleted" in out
    keep = await sql(op, "SELECT detail FROM audit WHERE event = 'bal.lifecycle' AND bal = :a "
                     "AND detail LIKE '%reactivated%'", a=dave)
    assert len(keep) == 1 and '"by": "keep"' in keep[0][0]
    # The D-30 notice went to dave himself (no notice address set): read over IMAP.
    assert len(await asyncio.to_thread(_notices, op, dave)) == 1


def test_imaplib_is_real() -> None:
    assert imaplib.IMAP4_SSL  # the notices are read with the standard library client
