"""Connection admission and the deadlines no traffic extends, over real sockets.

One client address holding hundreds of slow connections on submission (400)
and on IMAPS (1,100, raw TCP that never starts TLS, and TLS sessions that
trickle bytes) does not keep another address out; the caps before login (per
address, in all) and after it (per BAL) refuse with `421 4.7.0`, `* BYE` or
`503`; a client that keeps talking without logging in is closed when the
login time is over; a command line trickled octet by octet is closed at its
deadline. Every client from "another address" connects from 127.0.0.2 (Linux
routes all of 127/8 to the loopback), the listeners are on 127.0.0.1.

Ref: RFC 5321 3.8 (421), RFC 3501 5.4, 7.1.5 (autologout, BYE),
RFC 9110 15.6.4 (503); docs/architecture.md "Defaults".
"""

from __future__ import annotations

import asyncio
import base64
import imaplib
import resource
import selectors
import smtplib
import socket
import ssl
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from server.config import ConfigError
from server.config import load as load_config
from tests.protocol.directory_http import http_operator
from tests.support import PASSWORD, Operator, make_operator, serving

HOST, OTHER = "127.0.0.1", "127.0.0.2"
TIMERS = """
[limits]
smtp_login_timeout = 3
smtp_command_line_timeout = 1
imap_preauth_timeout = 3
imap_command_line_timeout = 1
"""


@pytest.fixture(autouse=True, scope="module")
def _enough_descriptors() -> None:
    """Client and server sockets of one test share this process: up to ~2,300 at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@asynccontextmanager
async def operator_with(tmp_path: Path, extra_toml: str = "") -> AsyncIterator[Operator]:
    async with serving(await make_operator(tmp_path, extra_toml=extra_toml)) as op:
        yield op


# --- clients -----------------------------------------------------------------------------


def connect_many(port: int, count: int) -> list[socket.socket]:
    """`count` raw TCP connections from 127.0.0.1 that send nothing (opened by 16 threads:
    an occasional SYN retried after a second then delays one thread only)."""
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda _: socket.create_connection((HOST, port), timeout=10),
                             range(count)))


def first_lines(socks: list[socket.socket]) -> list[bytes]:
    """The first line each connection received (b"" when closed without one)."""
    lines = []
    for sock in socks:
        sock.settimeout(10)
        try:
            lines.append(sock.recv(512).split(b"\r\n")[0])
        except ConnectionResetError:
            lines.append(b"")
    return lines


def answered_within(socks: list[socket.socket], seconds: float,
                    expected: int) -> list[bytes]:
    """The first line of every connection the server wrote to or closed (b"" for a close
    without a word) within `seconds`, or until `expected` did and one more second passed;
    connections it left alone are not listed."""
    selector, lines = selectors.DefaultSelector(), []
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while len(lines) < len(socks):
        if len(lines) >= expected:
            deadline, expected = min(deadline, time.monotonic() + 1), len(socks)
        if (left := deadline - time.monotonic()) <= 0:
            break
        for key, _ in selector.select(left):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                lines.append(sock.recv(4096).split(b"\r\n")[0])
            except ConnectionResetError:
                lines.append(b"")
            selector.unregister(sock)
    selector.close()
    return lines


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def smtp_from(address: str, op: Operator, login: str) -> tuple[int, bytes]:
    """Submission from `address`: EHLO, STARTTLS, AUTH; returns the AUTH reply."""
    with smtplib.SMTP(HOST, op.ports["submission"], timeout=20,
                      source_address=(address, 0)) as client:
        client.ehlo("client.test")
        client.starttls(context=op.client_context())
        client.ehlo("client.test")
        code, text = client.login(login, PASSWORD)
        assert client.noop()[0] == 250
        return code, text


class SourcedIMAP4SSL(imaplib.IMAP4_SSL):
    """imaplib's IMAPS client, connecting from a chosen local address."""

    source = OTHER

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def imaps_login_from_other(op: Operator, login: str) -> str:
    client = SourcedIMAP4SSL(HOST, op.ports["imaps"], ssl_context=op.client_context(),
                             timeout=20)
    try:
        client.login(login, PASSWORD)
        typ, _ = client.select("INBOX")
        return typ
    finally:
        client.logout()


def tls_sessions(op: Operator, count: int) -> tuple[list[ssl.SSLSocket], int]:
    """`count` IMAPS connections from 127.0.0.1: those greeted, and how many were refused."""
    ctx, greeted, refused = op.client_context(), [], 0
    for _ in range(count):
        sock = socket.create_connection((HOST, op.ports["imaps"]), timeout=10)
        try:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
            greeting = tls.recv(512)
        except (ssl.SSLError, OSError):
            sock.close()
            refused += 1
            continue
        if greeting.startswith(b"* OK"):
            greeted.append(tls)
        else:
            tls.close()
            refused += 1
    return greeted, refused


class Trickle:
    """A raw client that sends `data` one piece per `interval` until the server closes;
    it records what the server sent and when the connection ended."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.received = sock, b""

    def run(self, pieces: list[bytes], interval: float, limit: float) -> float:
        started = time.monotonic()
        self.sock.settimeout(interval)
        for piece in pieces:
            if time.monotonic() - started > limit:
                break
            try:
                self.sock.sendall(piece)
                while chunk := self.sock.recv(4096):
                    self.received += chunk
                return time.monotonic() - started  # closed by the server
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return time.monotonic() - started
        raise AssertionError(f"still open after {limit} s; received {self.received!r}")


def imaps_raw(op: Operator, login: str | None = None) -> socket.socket:
    sock = socket.create_connection((HOST, op.ports["imaps"]), timeout=10)
    tls = op.client_context().wrap_socket(sock, server_hostname="localhost")
    assert tls.recv(4096).startswith(b"* OK")
    if login is not None:
        tls.sendall(b"L LOGIN " + login.encode() + b' "' + PASSWORD.encode() + b'"\r\n')
        reply = b""
        while b"L " not in reply:
            reply += tls.recv(4096)
        assert b"L OK" in reply, reply
    return tls


def smtp_raw(op: Operator, login: str | None = None) -> socket.socket:
    """A plain submission connection after EHLO and STARTTLS (and AUTH PLAIN if given)."""
    client = smtplib.SMTP(HOST, op.ports["submission"], timeout=10)
    client.ehlo("client.test")
    client.starttls(context=op.client_context())
    client.ehlo("client.test")
    if login is not None:
        assert client.login(login, PASSWORD)[0] == 235
    sock = client.sock
    assert sock is not None
    return sock


# --- one address cannot take every slot ------------------------------------------------------


async def test_submission_serves_another_address_while_one_holds_400(tmp_path: Path) -> None:
    async with operator_with(tmp_path) as op:
        alice = await op.add_bal("alice")
        held = await asyncio.to_thread(connect_many, op.ports["submission"], 400)
        try:
            code, _ = await asyncio.to_thread(smtp_from, OTHER, op, alice)
            assert code == 235
            lines = await asyncio.to_thread(first_lines, held)
            assert lines.count(b"220 localhost mss-server") == 10  # smtp_max_preauth_per_address
            assert lines.count(b"421 4.7.0 Too many connections from your address, "
                               b"try again later") == 390
        finally:
            close_all(held)
        await asyncio.sleep(0.3)  # the server sees the closes: the address is below its cap
        code, _ = await asyncio.to_thread(smtp_from, HOST, op, alice)
        assert code == 235


async def test_imaps_serves_another_address_while_one_holds_1100_silent(tmp_path: Path) -> None:
    async with operator_with(tmp_path) as op:
        bob = await op.add_bal("bob")
        held = await asyncio.to_thread(connect_many, op.ports["imaps"], 1100)
        try:
            assert await asyncio.to_thread(imaps_login_from_other, op, bob) == "OK"
            closed = await asyncio.to_thread(answered_within, held, 10, 1080)
            # Beyond imap_max_preauth_per_address (20), closed at accept, no handshake spent.
            assert closed == [b""] * 1080
        finally:
            close_all(held)


async def test_imaps_serves_another_address_while_one_trickles_1100(tmp_path: Path) -> None:
    async with operator_with(tmp_path) as op:
        bob = await op.add_bal("bob")
        greeted, refused = await asyncio.to_thread(tls_sessions, op, 1100)
        try:
            for tls in greeted:  # an empty line each: traffic, never a login
                await asyncio.to_thread(tls.sendall, b"\r\n")
            assert await asyncio.to_thread(imaps_login_from_other, op, bob) == "OK"
            assert (len(greeted), refused) == (20, 1080)
        finally:
            close_all(list(greeted))


async def test_http_serves_another_address_while_one_holds_150(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False) as op:
        held = await asyncio.to_thread(connect_many, op.ports["http"], 150)
        try:
            def health_from_other() -> bytes:
                with socket.create_connection((HOST, op.ports["http"]), timeout=10,
                                              source_address=(OTHER, 0)) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n"
                                 b"Connection: close\r\n\r\n")
                    return sock.recv(4096).split(b"\r\n")[0]

            assert await asyncio.to_thread(health_from_other) == b"HTTP/1.1 200 OK"
            answers = await asyncio.to_thread(answered_within, held, 10, 130)
            # Beyond http.max_connections_per_address (20): 503 before any request.
            assert answers == [b"HTTP/1.1 503 Service Unavailable"] * 130
        finally:
            close_all(held)


# --- separate caps before and after login ----------------------------------------------------


async def test_preauth_total_and_per_bal_caps(tmp_path: Path) -> None:
    extra = """
[limits]
smtp_max_preauth_connections = 3
smtp_max_connections_per_bal = 2
imap_max_connections_per_bal = 2
"""
    async with operator_with(tmp_path, extra) as op:
        alice = await op.add_bal("alice")

        def waiting(*hosts: int) -> list[socket.socket]:
            return [socket.create_connection((HOST, op.ports["submission"]), timeout=10,
                                             source_address=(f"127.0.0.{n}", 0)) for n in hosts]

        def smtp_caps() -> tuple[list[bytes], bytes, list[bytes]]:
            first = waiting(3, 4, 5, 6)  # four addresses, three pre-login slots
            greetings = first_lines(first)
            close_all(first[:2])
            time.sleep(0.3)
            logged = [smtp_raw(op, alice), smtp_raw(op, alice)]
            third = smtp_raw(op)
            third.sendall(b"AUTH PLAIN " + _plain(alice) + b"\r\n")
            refused = third.recv(512) + third.recv(512)
            third.close()
            time.sleep(0.3)
            # Pre-login now: first[2] only; the two logged-in sessions count on the BAL.
            later = waiting(7, 8, 9)
            later_lines = first_lines(later)
            close_all(first + logged + [third] + later)
            return greetings, refused, later_lines

        greetings, refused, later = await asyncio.to_thread(smtp_caps)
        busy = b"421 4.7.0 Too many connections, try again later"
        assert greetings == [b"220 localhost mss-server"] * 3 + [busy]
        assert refused == (b"421 4.7.0 Too many connections for this mailbox, "
                           b"try again later\r\n")
        assert later == [b"220 localhost mss-server"] * 2 + [busy]

        def imap_per_bal() -> bytes:
            first, second = imaps_raw(op, alice), imaps_raw(op, alice)
            third = imaps_raw(op)
            third.sendall(b"L LOGIN " + alice.encode() + b' "' + PASSWORD.encode() + b'"\r\n')
            reply = b""
            while chunk := third.recv(4096):
                reply += chunk
            close_all([first, second, third])
            return reply

        assert await asyncio.to_thread(imap_per_bal) == (
            b"* BYE Too many connections for this mailbox\r\n"
            b"L NO [UNAVAILABLE] Too many connections for this mailbox\r\n")


def _plain(login: str) -> bytes:
    return base64.b64encode(b"\0" + login.encode() + b"\0" + PASSWORD.encode())


# --- deadlines that traffic does not extend ---------------------------------------------------


async def test_imap_login_time_is_not_extended_by_traffic(tmp_path: Path) -> None:
    async with operator_with(tmp_path, "[limits]\nimap_preauth_timeout = 3") as op:
        def trickle() -> tuple[float, bytes]:
            client = Trickle(imaps_raw(op))
            took = client.run([b"\n"] * 40, 0.5, 10)  # one octet every 0.5 s, an empty line
            return took, client.received

        took, received = await asyncio.to_thread(trickle)
        assert received == b"* BYE Autologout; login took too long\r\n"
        assert 1.5 < took < 5


async def test_smtp_login_time_is_not_extended_by_traffic(tmp_path: Path) -> None:
    async with operator_with(tmp_path, TIMERS) as op:
        def trickle() -> tuple[float, bytes]:
            client = Trickle(smtp_raw(op))
            took = client.run([b"NOOP\r\n"] * 40, 0.5, 10)  # a valid command every 0.5 s
            return took, client.received

        took, received = await asyncio.to_thread(trickle)
        assert received.endswith(b"421 4.7.0 Authentication took too long, "
                                 b"closing connection\r\n")
        assert received.count(b"250 ") >= 2
        assert 1 < took < 5


async def test_command_line_deadline_after_login(tmp_path: Path) -> None:
    async with operator_with(tmp_path, TIMERS) as op:
        alice = await op.add_bal("alice")

        def trickle_imap() -> tuple[float, bytes]:
            client = Trickle(imaps_raw(op, alice))
            took = client.run([bytes([c]) for c in b"N NOOP NOOP NOOP\r\n"], 0.3, 8)
            return took, client.received

        def trickle_smtp() -> tuple[float, bytes]:
            client = Trickle(smtp_raw(op, alice))
            took = client.run([bytes([c]) for c in b"NOOP NOOP NOOP NOOP\r\n"], 0.3, 8)
            return took, client.received

        (imap_took, imap_got), (smtp_took, smtp_got) = await asyncio.gather(
            asyncio.to_thread(trickle_imap), asyncio.to_thread(trickle_smtp))
        assert imap_got == b"* BYE Command line took too long\r\n"
        assert smtp_got == b"421 4.7.0 Command line took too long, closing connection\r\n"
        assert 0.8 < imap_took < 3 and 0.8 < smtp_took < 3


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["limits.smtp_max_preauth_per_address",
                                 "limits.imap_command_line_timeout",
                                 "limits.smtp_login_timeout",
                                 "limits.imap_max_connections_per_bal",
                                 "http.max_connections_per_address"])
async def test_connection_keys_are_validated_at_start(tmp_path: Path, key: str) -> None:
    op = await make_operator(tmp_path)
    section, name = key.split(".")
    path = op.directory / "mss.toml"
    path.write_text(path.read_text() + f"\n[{section}]\n{name} = 0\n")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ": must be at least 1"):
        load_config(path)
