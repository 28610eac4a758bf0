"""Admin changes made by ANOTHER process reach a running server within a second.

The server runs in this process (the `operator` fixture); the changes are made
by the real `mss` command in a subprocess against the same configuration and
database (`bal suspend`, `bal delete`, `bal passwd`), and, for data-key
rotation, which has no `mss` verb, through the store API (`DataKeys.rotate`)
in a subprocess. Each test opens sessions first, makes the change, then
measures from the subprocess's exit until the running server shows its
effect: open IMAP sessions get `* BYE` (IDLE at once, others at their next
command), an authenticated SMTP session gets `421` at its next MAIL, new
logins and deliveries are refused; after a password change the old password
fails and the new one works; after a rotation new deliveries are sealed with
the new key and old and new messages read back.

The watches poll once a second; the bound checked is 1.5 s from the
subprocess's exit (1 s poll + the read and the client's round trip on a
loaded 2-core machine).

Ref: R9, R28; RFC 3501 7.1.5; RFC 5321 3.8; docs/architecture.md "Contracts"
(admin verbs act on the database directly).
"""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.accounts import Accounts
from imap_store.store.keys import KeyWatch
from server.storage import open_store, password_hashing
from tests.integration.helpers import fetch_all, send
from tests.protocol.imap_support import Raw, in_thread
from tests.protocol.smtp_client import simple_message, submission
from tests.support import DOMAIN, PASSWORD, Operator, is_postgres

REPO = Path(__file__).resolve().parents[2]
BOUND = 1.5
NEW_PASSWORD = "An0ther-long-passphrase!"
ROTATE = """
import asyncio, sys
from pathlib import Path
from server.config import load
from server.storage import open_store

async def main() -> None:
    db, keys = open_store(load(Path(sys.argv[1])))
    try:
        async with db.write() as s:
            print((await keys.rotate(s, int(sys.argv[2]))).version)
    finally:
        await db.dispose()

asyncio.run(main())
"""


def _run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MSS_CONFIG"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, *argv], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


async def cli(op: Operator, *args: str, stdin: str = "") -> str:
    """Run `mss --config ... ARGS` in another process; its output."""
    done = await asyncio.to_thread(_run, "-m", "server.cli", "--config",
                                   str(op.directory / "mss.toml"), *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def mss(op: Operator, *args: str, stdin: str = "") -> float:
    """Run `mss --config ... ARGS` in another process; the monotonic time it ended."""
    await cli(op, *args, stdin=stdin)
    return time.monotonic()


async def until(check, what: str, since: float) -> float:  # noqa: ANN001
    """Call `check()` (in a thread) every 0.1 s until true; seconds since `since`."""
    while not await in_thread(check):
        if time.monotonic() - since > 10:
            raise AssertionError(f"{what}: not seen within 10 s")
        await asyncio.sleep(0.1)
    return time.monotonic() - since


def ended(raw: Raw) -> bool:
    """Send NOOP: False while the session answers OK, True once it says BYE and closes."""
    raw.send(b"N NOOP\r\n")
    line = raw.line()
    while line.startswith(b"* ") and not line.startswith(b"* BYE"):
        line = raw.line()
    if line.startswith(b"N OK"):
        return False
    # Deleted: the selected folder's watch may see it first (RFC 3501 7.1.5 either way).
    assert line in (b"* BYE Access to this mailbox was withdrawn",
                    b"* BYE Selected mailbox was deleted, have to disconnect"), line
    if line.endswith(b"deleted, have to disconnect"):
        # The mailbox-gone BYE comes from the NOOP's refresh; the NOOP's tagged reply
        # follows it before the close (as tests/protocol/test_imap_sessions.py expects).
        assert raw.line() == b"N OK NOOP completed"
    with pytest.raises(ConnectionError):
        raw.line()
    return True


def imap_login(op: Operator, user: str, password: str) -> bytes:
    raw = Raw(op)
    try:
        return raw.cmd(b"L", b'LOGIN ' + user.encode() + b' "' + password.encode() + b'"')[-1]
    finally:
        raw.close()


def smtp_login_refused(op: Operator, user: str, password: str) -> bool:
    with submission(op.ports["submission"], op.client_context()) as c:
        try:
            c.login(user, password)
        except smtplib.SMTPAuthenticationError:
            return True
        return False


async def _sessions(op: Operator, bob: str) -> tuple[Raw, Raw, Raw, smtplib.SMTP]:
    """A selected IMAP session, an authenticated one, one in IDLE, an SMTP AUTH session."""
    selected, plain = await in_thread(Raw, op, bob), await in_thread(Raw, op, bob)
    idler = await in_thread(Raw, op, bob)
    for raw in (selected, idler):
        assert (await in_thread(raw.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    await in_thread(idler.send, b"I IDLE\r\n")
    assert await in_thread(idler.line) == b"+ idling"
    smtp = await in_thread(submission, op.ports["submission"], op.client_context())
    await in_thread(smtp.login, bob, PASSWORD)
    return selected, plain, idler, smtp


def _read_until_bye(raw: Raw) -> bytes:
    while not (line := raw.line()).startswith(b"* BYE"):
        pass
    with pytest.raises(ConnectionError):  # then the server closes the connection
        while True:  # (IDLE's tagged reply may come first when the folder went first)
            assert raw.line() == b"I OK IDLE terminated"
    return line


async def _idle_ended(idler: Raw, since: float) -> float:
    """Seconds from `since` until the IDLE session got `* BYE` (it is read from then on)."""
    await in_thread(_read_until_bye, idler)
    return time.monotonic() - since


def _smtp_mail_refused(smtp: smtplib.SMTP, sender: str) -> bool:
    code, msg = smtp.mail(sender)
    assert (code, msg) == (421, b"4.7.0 Access to this mailbox was withdrawn, closing connection")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.noop()
    return True


async def _check_sessions_end(op: Operator, bob: str, verb: str) -> None:
    alice = await op.add_bal("alice")
    selected, plain, idler, smtp = await _sessions(op, bob)
    assert not await in_thread(ended, plain)
    since = await mss(op, "bal", verb, bob)
    assert await _idle_ended(idler, since) < BOUND
    assert await until(lambda: ended(selected), "selected session BYE", since) < BOUND
    assert await until(lambda: ended(plain), "authenticated session BYE", since) < BOUND
    assert await in_thread(_smtp_mail_refused, smtp, bob)
    # New logins are refused at once (they read the database), on both protocols.
    assert (await in_thread(imap_login, op, bob, PASSWORD)).startswith(b"L NO")
    assert await in_thread(smtp_login_refused, op, bob, PASSWORD)
    # Mail to the BAL is refused; the sender's other sessions are untouched.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(op, alice, [bob], simple_message(alice, bob))
    code, _ = refused.value.recipients[bob]
    assert code == 550
    assert (await in_thread(imap_login, op, alice, PASSWORD)).startswith(b"L OK")
    for raw in (selected, plain, idler):
        raw.close()


async def test_suspend_elsewhere_ends_sessions_and_refuses_logins(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await _check_sessions_end(operator, bob, "suspend")
    # Resumed: logins work again.
    await mss(operator, "bal", "resume", bob)
    assert (await in_thread(imap_login, operator, bob, PASSWORD)).startswith(b"L OK")


async def test_delete_elsewhere_ends_sessions_and_forgets_keys(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await send(operator, bob, [bob], simple_message(bob, bob))
    assert len(await fetch_all(operator, bob)) == 1  # its data key is now cached
    await _check_sessions_end(operator, bob, "delete")
    assert operator.running is not None
    keys, bal_id = operator.running.services.keys, operator.bals[bob].bal_id
    assert await until(lambda: not keys.holds(bal_id), "key forgotten", time.monotonic()) < 2


async def test_passwd_elsewhere_old_fails_new_works(operator: Operator) -> None:
    """A password change ends the sessions logged in with the old password (IMAP and
    SMTP); a session logged in with the new one, or with an app password (its secret
    did not change), keeps going."""
    bob = await operator.add_bal("bob")
    app = json.loads(await cli(operator, "--json", "bal", "app-password", "add", bob,
                               "--label", "phone"))
    by_app = await in_thread(Raw, operator)
    assert (await in_thread(by_app.cmd, b"L", b'LOGIN ' + bob.encode() + b' "'
                            + app["secret"].encode() + b'"'))[-1].startswith(b"L OK")
    selected, plain, idler, smtp = await _sessions(operator, bob)
    since = await mss(operator, "bal", "passwd", bob, "--password-stdin",
                      stdin=NEW_PASSWORD + "\n")
    assert await _idle_ended(idler, since) < BOUND
    assert await until(lambda: ended(selected), "selected session BYE", since) < BOUND
    assert await until(lambda: ended(plain), "authenticated session BYE", since) < BOUND
    assert await in_thread(_smtp_mail_refused, smtp, bob)
    assert (await in_thread(imap_login, operator, bob, PASSWORD)).startswith(b"L NO")
    assert await in_thread(smtp_login_refused, operator, bob, PASSWORD)
    fresh = await in_thread(Raw, operator)
    assert (await in_thread(fresh.cmd, b"L", b'LOGIN ' + bob.encode() + b' "'
                            + NEW_PASSWORD.encode() + b'"'))[-1].startswith(b"L OK")
    await asyncio.sleep(1.2)  # a full poll later, the new login still stands
    assert (await in_thread(fresh.cmd, b"N", b"NOOP")) == [b"N OK NOOP completed"]
    assert (await in_thread(by_app.cmd, b"N", b"NOOP")) == [b"N OK NOOP completed"]
    assert not await in_thread(smtp_login_refused, operator, bob, NEW_PASSWORD)
    for raw in (selected, plain, idler, fresh, by_app):
        raw.close()


async def _key_versions(op: Operator, bal_id: int) -> list[int]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        rows = (await s.execute(text(
            "SELECT key_version FROM message_content WHERE bal_id = :b ORDER BY key_version"),
            {"b": bal_id})).all()
    return [r[0] for r in rows]


async def test_key_rotation_elsewhere_new_deliveries_use_new_key(operator: Operator) -> None:
    """There is no `mss` verb for data-key rotation (`keys rotate` in the contract is
    KEK rotation, not built): the other process rotates through the store API."""
    bob = await operator.add_bal("bob")
    bal_id = operator.bals[bob].bal_id
    first = simple_message(bob, bob, subject="before")
    await send(operator, bob, [bob], first)  # the newest key (v1) is now cached here
    assert await _key_versions(operator, bal_id) == [1]
    done = await in_thread(_run, "-c", ROTATE, str(operator.directory / "mss.toml"),
                           str(bal_id))
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
    since = time.monotonic()
    await asyncio.sleep(BOUND)
    await send(operator, bob, [bob], simple_message(bob, bob, subject="after"))
    assert await _key_versions(operator, bal_id) == [1, 2], time.monotonic() - since
    stored = await fetch_all(operator, bob)
    subjects = sorted(line for body in stored.values() for line in body.split(b"\r\n")
                      if line.startswith(b"Subject: "))
    assert subjects == [b"Subject: after", b"Subject: before"]


async def test_cached_key_never_outlives_its_bal_under_a_reused_id(operator: Operator) -> None:
    """Another process deletes the newest BAL and creates one that gets the same id
    (SQLite reuses the highest rowid): one poll later, the server's newest key for
    that id is the new BAL's, not the deleted one's (whose key would seal mail
    nothing could read). Same check on PostgreSQL, where ids are not reused."""
    assert operator.running is not None
    services = operator.running.services
    alice = await operator.add_bal("alice")
    bal_id = operator.bals[alice].bal_id
    async with services.db.read() as s:
        old = await services.keys.current(s, bal_id)  # cached in the server
    other_db, other_keys = open_store(operator.cfg)  # the other process's store
    try:
        other = Accounts(other_db, other_keys, LOCAL_ENTRIES, password_hashing(operator.cfg))
        await other.delete_bal(alice)
        bob = await other.create_bal(f"bob@{DOMAIN}", "PER", rpps="10000000002",
                                     password=PASSWORD)
        async with other_db.read() as s:
            new = await other_keys.current(s, bob.id)
    finally:
        await other_db.dispose()
    assert bob.id == bal_id or is_postgres()
    await KeyWatch(services.db, services.keys).poll_once()
    async with services.db.read() as s:
        served = await services.keys.current(s, bob.id)
    assert served.key == new.key != old.key
