"""Accounts end to end: delegation, app passwords, lockout, suspension, immutability.

Ref: R9, R10, R12, R28; T35, T36, T41; docs/architecture.md "Identities",
"Defaults".
"""

from __future__ import annotations

import asyncio
import base64
import imaplib
import os
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.protocol.conftest import running_operator
from tests.protocol.smtp_client import simple_message
from tests.support import DOMAIN, PASSWORD, Operator

FAST_AUTH = "[auth]\ndelay_base_ms = 5\ndelay_cap_ms = 50\n"
SECRETARY_PW = "Anne tape 42 lettres vite"


def mss(op: Operator, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MSS_CONFIG": str(op.directory / "mss.toml")}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


async def amss(op: Operator, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(mss, op, *args, stdin=stdin)


def smtp_login(op: Operator, user: str, secret: str, authzid: str = "",
               source: str = "127.0.0.1") -> tuple[int, bytes, smtplib.SMTP]:
    c = smtplib.SMTP("127.0.0.1", op.ports["submission"], timeout=30,
                     source_address=(source, 0))
    c.ehlo("client.test")
    c.starttls(context=op.client_context())
    c.ehlo("client.test")
    blob = base64.b64encode(f"{authzid}\0{user}\0{secret}".encode()).decode()
    code, resp = c.docmd("AUTH", "PLAIN " + blob)
    return code, resp, c


def smtp_send(op: Operator, user: str, secret: str, sender: str, rcpt: str,
              authzid: str = "") -> int:
    code, _, c = smtp_login(op, user, secret, authzid)
    try:
        if code != 235:
            return code
        c.sendmail(sender, [rcpt], simple_message(sender, rcpt))
        return 250
    finally:
        c.quit()


def imap_count(op: Operator, user: str, secret: str) -> int | None:
    c = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=op.client_context(),
                          timeout=30)
    try:
        c.login(user, secret)
    except imaplib.IMAP4.error:
        c.shutdown()
        return None
    typ, data = c.select("INBOX")
    c.logout()
    return int(data[0])


def imap_count_delegated(op: Operator, bal: str, person: str, secret: str) -> int | None:
    """SASL PLAIN with authzid = the shared BAL, authcid = the person (RFC 4616)."""
    c = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=op.client_context(),
                          timeout=30)
    try:
        c.authenticate("PLAIN", lambda _: f"{bal}\0{person}\0{secret}".encode())
    except imaplib.IMAP4.error:
        c.shutdown()
        return None
    typ, data = c.select("INBOX")
    c.logout()
    return int(data[0])


async def persons_in_audit(op: Operator, event: str) -> list[tuple[str, str]]:
    await op.running.services.audit.flush()  # type: ignore[union-attr]  # queued records too
    async with op.running.services.db.read() as s:  # type: ignore[union-attr]
        rows = (await s.execute(text("SELECT bal, person FROM audit WHERE event = :e "
                                     "ORDER BY id"), {"e": event})).all()
    return [(r[0], r[1]) for r in rows]


async def test_bal_set_refuses_address_and_type(operator: Operator) -> None:
    org = await operator.add_bal("cardio", "ORG")
    for args, field in ((["--type", "PER"], "type"), (["--address", "x@" + DOMAIN], "address")):
        done = await amss(operator, "bal", "set", org, *args)
        assert done.returncode == 1 and done.stderr.startswith(f"mss: error: {field}")
    done = await amss(operator, "--json", "bal", "set", org, "--service", "Cardiologie",
                      "--liste-rouge", "yes")
    assert done.returncode == 0 and '"service": "Cardiologie"' in done.stdout
    assert '"bal_type": "ORG"' in done.stdout and '"liste_rouge": true' in done.stdout


async def test_delegation_on_org_bal_and_revoke(tmp_path: Path) -> None:
    async with running_operator(tmp_path, FAST_AUTH) as op:
        org, bob = await op.add_bal("cardio", "ORG"), await op.add_bal("bob")
        assert (await amss(op, "person", "add", "secretaire", "--name", "Anne",
                           "--password-stdin", stdin=SECRETARY_PW)).returncode == 0
        assert (await amss(op, "bal", "grant", org, "secretaire")).returncode == 0
        app = await amss(op, "--json", "bal", "app-password", "add", org, "--person",
                         "secretaire", "--label", "Thunderbird")
        assert app.returncode == 0, app.stderr
        secret = __import__("json").loads(app.stdout.splitlines()[0])["secret"]
        assert await asyncio.to_thread(smtp_send, op, "secretaire", SECRETARY_PW, org, bob,
                                       org) == 250
        assert await asyncio.to_thread(smtp_send, op, org, secret, org, bob) == 250
        assert await asyncio.to_thread(imap_count, op, org, secret) == 0
        assert await asyncio.to_thread(imap_count_delegated, op, org, "secretaire",
                                       SECRETARY_PW) == 0
        assert await asyncio.to_thread(imap_count_delegated, op, bob, "secretaire",
                                       SECRETARY_PW) is None
        persons = await persons_in_audit(op, "smtp.transaction")
        assert persons == [(org, "secretaire"), (org, "secretaire")]
        assert ("cardio@op-a.mssante.fr", "secretaire") in await persons_in_audit(
            op, "auth.success")
        assert (await amss(op, "bal", "revoke", org, "secretaire")).returncode == 0
        assert await asyncio.to_thread(smtp_send, op, "secretaire", SECRETARY_PW, org, bob,
                                       org) == 535
        assert await asyncio.to_thread(smtp_send, op, org, secret, org, bob) == 535
        assert await asyncio.to_thread(imap_count, op, org, secret) is None
        assert await asyncio.to_thread(imap_count_delegated, op, org, "secretaire",
                                       SECRETARY_PW) is None
        selects = await persons_in_audit(op, "imap.select")
        assert selects and all(p == "secretaire" for _b, p in selects)


async def test_app_password_smtp_imap_then_revoked(tmp_path: Path) -> None:
    async with running_operator(tmp_path, FAST_AUTH) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        app = await amss(op, "--json", "bal", "app-password", "add", alice, "--label", "phone")
        info = __import__("json").loads(app.stdout.splitlines()[0])
        assert info["person"] == alice and len(info["secret"]) >= 32
        assert await asyncio.to_thread(smtp_send, op, alice, info["secret"], alice, bob) == 250
        assert await asyncio.to_thread(imap_count, op, alice, info["secret"]) == 0
        listed = await amss(op, "--json", "bal", "app-password", "list", alice)
        assert info["secret"] not in listed.stdout and '"last_used_at": null' not in listed.stdout
        assert (await amss(op, "bal", "app-password", "revoke", alice,
                           str(info["id"]))).returncode == 0
        assert await asyncio.to_thread(smtp_send, op, alice, info["secret"], alice, bob) == 535
        assert await asyncio.to_thread(imap_count, op, alice, info["secret"]) is None
        assert await asyncio.to_thread(imap_count, op, alice, PASSWORD) == 0


async def test_lockout_per_address_and_identical_replies(tmp_path: Path) -> None:
    async with running_operator(tmp_path, FAST_AUTH) as op:
        alice = await op.add_bal("alice")

        def attempt(user: str, secret: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
            code, resp, c = smtp_login(op, user, secret, source=source)
            c.close()
            return code, resp

        unknown = await asyncio.to_thread(attempt, "nobody@" + DOMAIN, "whatever it is")
        wrong = [await asyncio.to_thread(attempt, alice, f"wrong {i}") for i in range(5)]
        assert all(w == unknown for w in wrong) and unknown[0] == 535
        locked = await asyncio.to_thread(attempt, alice, PASSWORD)
        assert locked == unknown
        other = await asyncio.to_thread(attempt, alice, PASSWORD, "127.0.0.2")
        assert other[0] == 235
        failures = await op.audit_rows("auth.failure")
        reasons = [f["reason"] for f in failures]
        assert reasons == ["unknown-account"] + ["bad-secret"] * 5 + ["locked"]
        assert len(await op.audit_rows("auth.success")) == 1


async def test_suspend_and_resume(tmp_path: Path) -> None:
    async with running_operator(tmp_path, FAST_AUTH) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        assert (await amss(op, "bal", "suspend", bob)).returncode == 0
        assert await asyncio.to_thread(imap_count, op, bob, PASSWORD) is None

        def rcpt() -> tuple[int, bytes]:
            code, _, c = smtp_login(op, alice, PASSWORD)
            assert code == 235
            c.mail(alice)
            result = c.rcpt(bob)
            c.quit()
            return result[0], result[1][:5]

        assert await asyncio.to_thread(rcpt) == (550, b"5.2.1")
        assert (await amss(op, "bal", "resume", bob)).returncode == 0
        assert await asyncio.to_thread(imap_count, op, bob, PASSWORD) == 0
        assert await asyncio.to_thread(smtp_send, op, alice, PASSWORD, alice, bob) == 250
        shown = await amss(op, "--json", "bal", "show", bob)
        assert '"status": "active"' in shown.stdout and '"last_login_at": null' not in shown.stdout
        assert '"published": true' in shown.stdout
        async with op.running.services.db.read() as s:  # type: ignore[union-attr]
            events = (await s.execute(text(
                "SELECT published, reason FROM publication_event WHERE address = :a "
                "ORDER BY id"), {"a": bob})).all()
        assert [(bool(p), r) for p, r in events] == [
            (True, "created"), (False, "suspended"), (True, "resumed")]


async def test_liste_rouge_is_never_published(operator: Operator) -> None:
    alice = await operator.add_bal("alice")
    done = await amss(operator, "--json", "bal", "set", alice, "--liste-rouge", "yes")
    assert '"published": false' in done.stdout
    done = await amss(operator, "--json", "bal", "resume", alice)
    shown = await amss(operator, "--json", "bal", "show", alice)
    assert '"published": false' in shown.stdout
    done = await amss(operator, "--json", "bal", "set", alice, "--liste-rouge", "no")
    assert '"published": true' in done.stdout


@pytest.mark.parametrize("bad", ["motdepasse123", "short"])
async def test_password_policy_on_cli(operator: Operator, bad: str) -> None:
    alice = await operator.add_bal("alice")
    done = await amss(operator, "bal", "passwd", alice, "--password-stdin", stdin=bad)
    assert done.returncode == 1 and done.stderr.startswith("mss: error: password")
