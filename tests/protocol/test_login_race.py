"""Parallel logins against the lockout, and the bound on argon2 work, with real clients.

Ref: docs/architecture.md "Defaults" (lockout after 5 failures in 15 min on
(account, client address), delays per address, the same reply while locked);
RFC 4954 6 (454 4.7.0); RFC 5530 3 (UNAVAILABLE); OWASP argon2id minimum.

The failure bound asserted below is exactly `max_failures` (5) rows for the
(account, address) pair: in one process an address has one attempt under way
at a time (its delay, lock check, password check and failure record), so the
sixth attempt reads five failures and is refused as locked, and an attempt
refused as locked records no failure. With several processes on one database
each could add one in-flight failure, hence "threshold + processes - 1"; the
tests run one process, so the constant is 0.
"""

from __future__ import annotations

import asyncio
import http.client
import math
import os
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import aioimaplib
import aiosmtplib
from argon2 import PasswordHasher
from sqlalchemy import text

from imap_store.store.passwords import PasswordVerifier
from tests.protocol.conftest import running_operator
from tests.protocol.directory_http import basic, request
from tests.support import PASSWORD, Operator

FAST = """
[auth]
delay_base_ms = 5
delay_cap_ms = 50
argon2_memory_kib = 19456
argon2_time_cost = 2
argon2_parallelism = 1
login_wait_ms = 60000

[limits]
# Room for the whole burst from one address before login (the attack under test).
smtp_max_preauth_per_address = 100
imap_max_preauth_per_address = 100
"""
ATTEMPTS = 40
MAX_FAILURES = 5
FAILED = b"[AUTHENTICATIONFAILED] Authentication failed"


def verifier(op: Operator) -> PasswordVerifier:
    assert op.running is not None
    return op.running.services.logins.checker.verifier


async def failures(op: Operator, account: str, peer: str = "127.0.0.1") -> int:
    """Rows of `login_failure` for the pair: the recorded failures the lockout counts."""
    assert op.running is not None
    async with op.running.services.db.read() as s:
        return int((await s.execute(text(
            "SELECT count(*) FROM login_failure WHERE account = :a AND peer = :p"),
            {"a": account, "p": peer})).scalar_one())


async def started(v: PasswordVerifier) -> None:
    """Until a verification runs in a worker thread (counted there, so polled)."""
    for _ in range(2000):
        if v.running:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no verification started within 10 s")


def hash_lasting(seconds: float) -> str:
    """A real argon2id hash of "x" whose verification takes about `seconds` on this
    machine: the time per pass is measured first, so a fast machine gets more passes
    (a fixed pass count held the slot 1.7 s on one machine, less than a loaded run's
    three logins took to be refused)."""
    def hasher(passes: int) -> PasswordHasher:
        return PasswordHasher(time_cost=passes, memory_cost=19456, parallelism=1)
    began = time.perf_counter()
    hasher(8).hash("x")
    per_pass = (time.perf_counter() - began) / 8
    return hasher(max(8, math.ceil(seconds / per_pass))).hash("x")


async def reasons(op: Operator) -> list[str]:
    return [str(d["reason"]) for d in await op.audit_rows("auth.failure")]


async def imap_clients(op: Operator, n: int) -> list[aioimaplib.IMAP4_SSL]:
    async def one() -> aioimaplib.IMAP4_SSL:
        client = aioimaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"],
                                      ssl_context=op.client_context(), timeout=120)
        await client.wait_hello_from_server()
        return client
    return list(await asyncio.gather(*(one() for _ in range(n))))


async def imap_login(client: aioimaplib.IMAP4_SSL, user: str, secret: str) -> tuple[str, bytes]:
    """(result, text of the tagged reply), e.g. ("NO", b"[UNAVAILABLE] ...")."""
    reply = await client.login(user, secret)
    return reply.result, bytes(reply.lines[-1])


async def close_all(clients: Iterable[aioimaplib.IMAP4_SSL]) -> None:
    for client in clients:
        await client.logout()


async def smtp_client(op: Operator, source: str = "127.0.0.1") -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=op.ports["submission"],
                             tls_context=op.client_context(), start_tls=True, timeout=120,
                             source_address=(source, 0))
    await client.connect()
    await client.ehlo()  # RFC 3207 4.2: EHLO again after STARTTLS
    return client


async def smtp_auth(op: Operator, user: str, secret: str,
                    source: str = "127.0.0.1") -> tuple[int, str]:
    """AUTH PLAIN on a fresh connection: (code, enhanced status)."""
    client = await smtp_client(op, source)
    try:
        reply = await client.auth_plain(user, secret)
        code, message = reply.code, reply.message
    except aiosmtplib.SMTPAuthenticationError as exc:
        code, message = exc.code, exc.message
    finally:
        client.close()
    return code, message.partition(" ")[0]


def http_search(op: Operator, user: str, secret: str, source: str) -> int:
    """The directory API with HTTP Basic credentials (http.client): the status."""
    conn = http.client.HTTPSConnection("127.0.0.1", op.ports["http"], timeout=60,
                                       context=op.client_context(),
                                       source_address=(source, 0))
    try:
        return request(conn, "GET", "/directory/search?q=martin",
                       {"Authorization": basic(user, secret)})[0]
    finally:
        conn.close()


# --- the lockout holds against parallel attempts -------------------------------------


async def test_parallel_imap_logins_stop_at_the_lockout(tmp_path: Path) -> None:
    async with running_operator(tmp_path, FAST, trust_list=False) as op:
        alice = await op.add_bal("alice")
        clients = await imap_clients(op, ATTEMPTS + 1)
        try:
            burst = await asyncio.gather(*(imap_login(c, alice, f"wrong-{i}")
                                           for i, c in enumerate(clients[:ATTEMPTS])))
            assert burst == [("NO", FAILED)] * ATTEMPTS
            assert await imap_login(clients[-1], alice, PASSWORD) == ("NO", FAILED)
        finally:
            await close_all(clients)
        assert await failures(op, alice) == MAX_FAILURES
        # Audit rows are written after each attempt leaves its turn: compare as counts.
        assert Counter(await reasons(op)) == {"bad-secret": MAX_FAILURES,
                                              "locked": ATTEMPTS + 1 - MAX_FAILURES}
        assert op.running is not None and len(op.running.services.logins.turns) == 0


async def test_parallel_smtp_and_imap_logins_share_one_lockout(tmp_path: Path) -> None:
    async with running_operator(tmp_path, FAST, trust_list=False) as op:
        alice = await op.add_bal("alice")
        half = ATTEMPTS // 2
        clients = await imap_clients(op, half)
        try:
            imap_burst = [imap_login(c, alice, f"wrong-{i}") for i, c in enumerate(clients)]
            smtp_burst = [smtp_auth(op, alice, f"wrong-{i}") for i in range(half)]
            replies = await asyncio.gather(*imap_burst, *smtp_burst)
        finally:
            await close_all(clients)
        assert replies == [("NO", FAILED)] * half + [(535, "5.7.8")] * half
        assert await smtp_auth(op, alice, PASSWORD) == (535, "5.7.8")
        assert await failures(op, alice) == MAX_FAILURES
        # The lockout is per (account, address): another address still logs in.
        assert await smtp_auth(op, alice, PASSWORD, "127.0.0.2") == (235, "2.7.0")


async def test_lock_is_read_again_after_the_password_check(tmp_path: Path) -> None:
    """Failures recorded while a right password is being verified (as another
    process sharing the database would) lock the pair before the login succeeds."""
    extra = FAST.replace("argon2_time_cost = 2", "argon2_time_cost = 100")
    async with running_operator(tmp_path, extra, trust_list=False) as op:
        alice = await op.add_bal("alice")
        assert op.running is not None
        v, throttle = verifier(op), op.running.services.logins.throttle
        login = asyncio.create_task(smtp_auth(op, alice, PASSWORD))
        await started(v)
        for _ in range(MAX_FAILURES):
            await throttle.record_failure(alice, "127.0.0.1", datetime.now(UTC))
        assert v.running == 1
        assert await login == (535, "5.7.8")
        assert await reasons(op) == ["locked"]
        assert await failures(op, alice) == MAX_FAILURES


# --- at most N argon2 verifications at once ------------------------------------------


async def test_one_verification_at_a_time(tmp_path: Path) -> None:
    extra = FAST.replace("argon2_time_cost = 2", "argon2_time_cost = 8").replace(
        "[auth]", "[auth]\nmax_verifications = 1")
    async with running_operator(tmp_path, extra, trust_list=False) as op:
        alice = await op.add_bal("alice")
        clients = await imap_clients(op, 1)
        sources = [f"127.0.0.{i}" for i in range(2, 10)]
        try:
            replies = await asyncio.gather(imap_login(clients[0], alice, PASSWORD),
                                           *(smtp_auth(op, alice, PASSWORD, s) for s in sources))
        finally:
            await close_all(clients)
        assert replies[0][0] == "OK" and replies[1:] == [(235, "2.7.0")] * len(sources)
        v = verifier(op)
        assert (v.max_running, v.peak, v.running, v.timed_out) == (1, 1, 0, 0)
        assert v.started == 1 + len(sources)


async def test_login_past_its_wait_gets_a_temporary_failure(tmp_path: Path) -> None:
    extra = FAST.replace("login_wait_ms = 60000", "login_wait_ms = 300").replace(
        "[auth]", "[auth]\nmax_verifications = 1")
    async with running_operator(tmp_path, extra, trust_list=False) as op:
        alice = await op.add_bal("alice")
        v = verifier(op)
        # A real verification long enough to hold the only slot past the three waits
        # (300 ms each, plus connecting, under coverage on a loaded machine).
        slow = await asyncio.to_thread(hash_lasting, 6.0)
        holder = asyncio.create_task(v.verify(slow, "x"))
        await started(v)
        clients = await imap_clients(op, 1)
        try:
            imap, smtp, http = await asyncio.gather(
                imap_login(clients[0], alice, PASSWORD),
                smtp_auth(op, alice, PASSWORD, "127.0.0.2"),
                asyncio.to_thread(http_search, op, alice, PASSWORD, "127.0.0.3"))
            assert not holder.done()
            assert imap[0] == "NO" and imap[1].startswith(b"[UNAVAILABLE] ")
            assert smtp == (454, "4.7.0")
            assert http == 503
            assert (await holder).ok
            assert (await imap_login(clients[0], alice, PASSWORD))[0] == "OK"
        finally:
            await close_all(clients)
        assert v.timed_out == 3
        assert await reasons(op) == ["unavailable"] * 3
        assert await failures(op, alice) == 0 and await failures(op, alice, "127.0.0.2") == 0


async def test_parallel_attempt_waits_for_its_turn_then_is_refused_unchecked(
        tmp_path: Path) -> None:
    """While one attempt from an address sleeps its delay, a second from the same
    address waits for its turn; past `login_wait_ms` it is refused as a temporary
    failure without any password work."""
    extra = FAST.replace("delay_base_ms = 5", "delay_base_ms = 1500").replace(
        "delay_cap_ms = 50", "delay_cap_ms = 5000").replace(
        "login_wait_ms = 60000", "login_wait_ms = 300")
    async with running_operator(tmp_path, extra, trust_list=False) as op:
        alice = await op.add_bal("alice")
        v = verifier(op)
        assert await smtp_auth(op, alice, "wrong-0") == (535, "5.7.8")
        assert v.started == 1
        first = asyncio.create_task(smtp_auth(op, alice, "wrong-1"))
        await asyncio.sleep(0.2)  # the first holds the address's turn, sleeping its delay
        assert await smtp_auth(op, alice, PASSWORD) == (454, "4.7.0")
        assert v.started == 1 and not first.done()
        assert await first == (535, "5.7.8")
        assert v.started == 2
        assert await reasons(op) == ["bad-secret", "unavailable", "bad-secret"]


# --- argon2 parameters ---------------------------------------------------------------


async def test_hash_under_other_parameters_verifies_and_is_replaced(operator: Operator) -> None:
    """Default parameters (m=64 MiB, t=3, p=4); a hash made at the OWASP minimum
    still verifies, and is stored again under the configured parameters."""
    assert verifier(operator).max_running == (os.cpu_count() or 1)  # max_verifications = 0
    alice = await operator.add_bal("alice")
    old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)
    assert operator.running is not None
    async with operator.running.services.db.write() as s:
        await s.execute(text("UPDATE bal SET password_hash = :h WHERE address = :a"),
                        {"h": old, "a": alice})
    assert await smtp_auth(operator, alice, PASSWORD) == (235, "2.7.0")
    async with operator.running.services.db.read() as s:
        stored = (await s.execute(text("SELECT password_hash FROM bal WHERE address = :a"),
                                  {"a": alice})).scalar_one()
    assert stored != old and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await smtp_auth(operator, alice, PASSWORD) == (235, "2.7.0")
    assert await smtp_auth(operator, alice, "wrong") == (535, "5.7.8")


async def test_configured_parameters_make_new_hashes(tmp_path: Path) -> None:
    extra = FAST.replace("argon2_memory_kib = 19456", "argon2_memory_kib = 24576").replace(
        "argon2_time_cost = 2", "argon2_time_cost = 3")
    async with running_operator(tmp_path, extra, trust_list=False) as op:
        alice = await op.add_bal("alice")
        assert op.running is not None
        async with op.running.services.db.read() as s:
            stored = (await s.execute(text("SELECT password_hash FROM bal WHERE address = :a"),
                                      {"a": alice})).scalar_one()
        assert stored.startswith("$argon2id$v=19$m=24576,t=3,p=1$")
        assert await smtp_auth(op, alice, PASSWORD) == (235, "2.7.0")
