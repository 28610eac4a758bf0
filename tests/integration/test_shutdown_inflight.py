"""Stopping the server while a DATA commit is in flight.

The commit is held in flight for real: another database connection holds the
write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL `LOCK TABLE ... EXCLUSIVE`),
so the delivery transaction waits until the test lets it go. Meanwhile the
server is told to stop. A commit that ends within the grace period is
answered `250`, then the session gets `421 4.3.2`; the message is stored
once, with its audit record. One that cannot end within the grace period is
never half-written, and the client is never told `250` for mail the store
does not hold. Idle SMTP sessions get `421 4.3.2`, IMAP sessions `* BYE`, new
connections are refused, and the stop takes at most the grace period.

Ref: docs/architecture.md "Data flow" (DATA is answered 250 only after the
commit returned); RFC 5321 3.8, 4.2.5; RFC 3501 7.1.5 (BYE).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import sqlite3
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.app import stop
from tests.integration.helpers import fetch_all
from tests.protocol.smtp_client import simple_message
from tests.support import PASSWORD, Operator, is_postgres
from tests.support import test_database_url as database_url


@asynccontextmanager
async def write_lock(op: Operator) -> AsyncIterator[None]:
    """Hold the database's write lock from another connection."""
    if is_postgres():
        url = make_url(database_url()).set(database=op.pg_name)
        conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(
            hide_password=False))
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("LOCK TABLE message_content IN EXCLUSIVE MODE")
            yield
            await tx.rollback()
        finally:
            await conn.close()
    else:
        conn = sqlite3.connect(op.directory / "data" / "mss.sqlite3", timeout=0,
                               isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()


class RawSmtp:
    """A line-level SMTP client over STARTTLS (587), to send DATA without waiting."""

    def __init__(self, op: Operator) -> None:
        sock = socket.create_connection(("127.0.0.1", op.ports["submission"]), timeout=20)
        self.buf = b""
        self.sock: socket.socket = sock
        assert self.reply().startswith(b"220 ")
        self.cmd(b"EHLO client.test")
        assert self.cmd(b"STARTTLS").startswith(b"220 ")
        self.sock = op.client_context().wrap_socket(sock, server_hostname="localhost")
        self.cmd(b"EHLO client.test")

    def reply(self) -> bytes:
        """The last line of one (possibly multi-line) reply; b"" once closed."""
        while True:
            while b"\r\n" not in self.buf:
                try:
                    chunk = self.sock.recv(4096)
                except (ConnectionResetError, ssl.SSLError):
                    chunk = b""
                if not chunk:
                    line, self.buf = self.buf, b""
                    return line
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] != b"-":
                return line

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def envelope(self, sender: str, rcpt: str) -> None:
        auth = base64.b64encode(b"\x00" + sender.encode() + b"\x00" + PASSWORD.encode())
        assert self.cmd(b"AUTH PLAIN " + auth).startswith(b"235 ")
        assert self.cmd(b"MAIL FROM:<" + sender.encode() + b">").startswith(b"250 ")
        assert self.cmd(b"RCPT TO:<" + rcpt.encode() + b">").startswith(b"250 ")

    def data(self, message: bytes) -> None:
        """DATA, the message and the final dot; the reply is not read."""
        assert self.cmd(b"DATA").startswith(b"354 ")
        self.sock.sendall(message.replace(b"\r\n.", b"\r\n..") + b".\r\n")

    def nothing_yet(self, wait: float) -> bool:
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(4096) == b""
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(20)


def refused(op: Operator, port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


async def _stored(op: Operator, bob: str) -> tuple[int, list[str]]:
    """After a restart: bob's INBOX size and the codes audited for DATA."""
    await op.start()
    rows = await op.audit_rows("smtp.transaction")
    return len(await fetch_all(op, bob)), [str(r["code"]) for r in rows]


async def test_commit_in_flight_finishes_then_sessions_are_told(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    ports = dict(operator.ports)
    idle_smtp = await asyncio.to_thread(RawSmtp, operator)
    idle_imap = await asyncio.to_thread(socket.create_connection,
                                        ("127.0.0.1", ports["imap"]), 20)
    assert (await asyncio.to_thread(idle_imap.recv, 4096)).startswith(b"* OK ")
    sender = await asyncio.to_thread(RawSmtp, operator)
    await asyncio.to_thread(sender.envelope, alice, bob)
    message = simple_message(alice, bob, "in flight", "committed while stopping\n")
    async with write_lock(operator):
        await asyncio.to_thread(sender.data, message)
        assert await asyncio.to_thread(sender.nothing_yet, 0.5)  # the commit waits
        assert operator.running is not None
        began = time.monotonic()
        stopping = asyncio.create_task(stop(operator.running, grace=8.0))
        for _ in range(100):
            if all(refused(operator, ports[n]) for n in ("submission", "imaps", "http")):
                break
            await asyncio.sleep(0.05)
        assert all([refused(operator, ports[n]) for n in ("submission", "imaps", "http")])
        assert await asyncio.to_thread(sender.nothing_yet, 0.3)  # still waiting on the lock
    assert await asyncio.to_thread(sender.reply) == b"250 2.0.0 OK"
    assert await asyncio.to_thread(sender.reply) == b"421 4.3.2 Service shutting down, try " \
                                                    b"again later"
    await stopping
    assert time.monotonic() - began < 8.0
    operator.running = None
    assert await asyncio.to_thread(idle_smtp.reply) == b"421 4.3.2 Service shutting down, " \
                                                       b"try again later"
    assert (await asyncio.to_thread(idle_imap.recv, 4096)).startswith(b"* BYE ")
    idle_imap.close()
    assert await _stored(operator, bob) == (1, ["250"])


async def test_commit_that_cannot_end_within_grace_is_not_reported_stored(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    sender = await asyncio.to_thread(RawSmtp, operator)
    await asyncio.to_thread(sender.envelope, alice, bob)
    message = simple_message(alice, bob, "too late", "never committed\n")
    async with write_lock(operator):
        await asyncio.to_thread(sender.data, message)
        assert await asyncio.to_thread(sender.nothing_yet, 0.5)
        assert operator.running is not None
        began = time.monotonic()
        await stop(operator.running, grace=1.0)
        assert time.monotonic() - began < 1.5
        operator.running = None
        answer = await asyncio.to_thread(sender.reply)
    assert not answer.startswith(b"250"), answer
    count, codes = await _stored(operator, bob)
    async with operator.running.services.db.read() as s:  # type: ignore[union-attr]
        contents = (await s.execute(text("SELECT count(*) FROM message_content"))).scalar()
    assert (count, contents) == (0, 0)
    assert "250" not in codes
