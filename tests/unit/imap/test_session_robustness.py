"""Malformed input, literals and limits, timeouts, shutdown, server bugs."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from imap_store.imap.limits import ImapLimits
from tests.unit.imap.conftest import RawClient, ServerThread, TlsMaterial, start_server
from tests.unit.imap.messages import message

MALFORMED = [
    b"a FETCH 1 (FLAGS",
    b"a FETCH 1 FLAGS)",
    b"a FETCH 100000000000000000000 FLAGS",
    b"a FETCH 1 " + b"(" * 100 + b"FLAGS" + b")" * 100,
    b"a SEARCH " + b"(" * 100 + b"ALL" + b")" * 100,
    b"a NOOP \x00",
    b"a LOGIN \"x\x00\" y",
    b"a FROB",
    b"a UID",
]


def test_malformed_input_never_ends_the_session(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.login()
    client.cmd(b"s", b"SELECT INBOX")
    for line in MALFORMED:
        client.send(line + b"\r\n")
        assert client.line().startswith(b"a BAD "), line
    for line in (b"a SELECT &", b"a SELECT &AGE", b"a CREATE &"):
        client.send(line + b"\r\n")
        assert client.until_tagged(b"a")[-1].startswith(b"a NO "), line
    for line in (b"* NOOP", b"\x00\x01\x02", b"(((", b"+"):
        client.send(line + b"\r\n")
        assert client.line().startswith(b"* BAD "), line
    client.send(b"\r\n")
    assert client.cmd(b"z", b"NOOP")[-1] == b"z OK NOOP completed"
    client.close()


def test_literals_over_the_wire(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.send(b"l1 LOGIN {21}\r\n")
    assert client.line() == b"+ go ahead"
    client.send(b"alice@op-a.mssante.fr {6+}\r\nsecret\r\n")
    assert client.until_tagged(b"l1")[-1].startswith(b"l1 OK")
    client.send(b"l2 SELECT {99999999999}\r\n")
    assert client.line() == b"l2 BAD [TOOBIG] Literal too large"
    assert client.cmd(b"l3", b"SELECT {5+}\r\nINBOX")[-1].startswith(b"l3 OK")
    client.close()


def test_non_sync_literal_over_limit_disconnects(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.send(b"l1 LOGIN {99999999999+}\r\n")
    assert client.line() == b"l1 BAD [TOOBIG] Literal too large"
    assert client.line().startswith(b"* BYE")
    with pytest.raises(ConnectionError):
        client.line()


def test_overlong_line(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.send(b"x1 NOOP " + b"a" * 70_000 + b"\r\n")
    assert client.line() == b"x1 BAD [TOOBIG] Line too long"
    assert client.cmd(b"x2", b"NOOP")[-1] == b"x2 OK NOOP completed"
    client.close()


@pytest.mark.server_error("imap_store.imap.commands.dispatch",
                          r"IMAP FETCH failed(.|\n)*disk on fire")
def test_server_bug_is_no_serverbug(server: ServerThread, tls: TlsMaterial,
                                    caplog: pytest.LogCaptureFixture) -> None:
    server.deliver(message(1))
    store = server.backend.store

    async def broken(bal_id: int, folder_id: int, uids: list[int],
                     octets: int | None = None) -> dict[int, bytes]:
        raise RuntimeError("disk on fire")

    store.fetch_messages = broken  # type: ignore[method-assign]
    client = RawClient(server.tls_port, tls)
    client.login()
    client.cmd(b"s", b"SELECT INBOX")
    assert client.cmd(b"f", b"FETCH 1 BODY.PEEK[]")[-1] == (
        b"f NO [SERVERBUG] Internal server error")
    assert client.cmd(b"n", b"NOOP")[-1] == b"n OK NOOP completed"
    assert "disk on fire" in caplog.text and "Hello" not in caplog.text
    client.close()


def test_wrong_state_commands(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    assert client.cmd(b"a", b"FETCH 1 FLAGS")[-1] == b"a BAD Command not valid in this state"
    assert client.cmd(b"b", b"SELECT INBOX")[-1] == b"b BAD Command not valid in this state"
    client.login()
    assert client.cmd(b"c", b"FETCH 1 FLAGS")[-1] == b"c BAD No mailbox selected"
    assert client.cmd(b"d", b"LOGIN a b")[-1] == b"d BAD Command not valid in this state"
    assert client.cmd(b"e", b"CLOSE")[-1] == b"e BAD No mailbox selected"
    client.close()


def test_shutdown_says_bye(tls: TlsMaterial) -> None:
    srv = start_server(tls)
    port = srv.plain_port
    idle = RawClient(port)
    busy = RawClient(srv.tls_port, tls)
    busy.login()
    busy.send(b"i IDLE\r\n")
    assert busy.line() == b"+ idling"
    srv.call(srv.plain.shutdown(2.0))
    srv.call(srv.implicit.shutdown(2.0))
    assert idle.line() == b"* BYE Server shutting down"
    assert busy.line() == b"* BYE Server shutting down"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    srv.stop()
    assert srv.errors == []


def test_connection_limit_and_autologout(tls: TlsMaterial) -> None:
    srv = start_server(tls, ImapLimits(max_connections=1, preauth_timeout=0.3))
    first = RawClient(srv.plain_port)
    second = RawClient(srv.plain_port)
    assert second.greeting == b"* BYE Too many connections"
    assert first.line() == b"* BYE Autologout; login took too long"
    srv.stop()
    assert srv.errors == []


def test_idle_timeout_runs_from_the_last_read(tls: TlsMaterial) -> None:
    """RFC 3501 5.4: the autologout timer counts from the client's last command, not
    from the first: commands every 0.25 s for twice the timeout keep the session, then
    silence ends it with BYE after one timeout."""
    srv = start_server(tls, ImapLimits(idle_timeout=0.6))
    client = RawClient(srv.tls_port, tls)
    client.login()
    started = time.monotonic()
    for n in range(5):
        time.sleep(0.25)
        assert client.cmd(b"n%d" % n, b"NOOP")[-1] == b"n%d OK NOOP completed" % n
    assert time.monotonic() - started > 1.2  # twice the timeout, still served
    quiet = time.monotonic()
    assert client.line() == b"* BYE Autologout; idle for too long"
    assert 0.5 < time.monotonic() - quiet < 3.0
    srv.stop()
    assert srv.errors == []


def test_internaldate_and_partial_fetch(server: ServerThread, tls: TlsMaterial) -> None:
    when = dt.datetime(2024, 2, 9, 8, 5, 3, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    server.deliver(message(1), internaldate=when)
    client = RawClient(server.tls_port, tls)
    client.login()
    client.cmd(b"s", b"SELECT INBOX")
    lines = client.cmd(b"f", b"FETCH 1 (INTERNALDATE BODY.PEEK[]<0.4> BODY.PEEK[]<99999.5>)")
    assert lines[0] == b'* 1 FETCH (INTERNALDATE " 9-Feb-2024 08:05:03 +0100" BODY[]<0> {4}'
    assert lines[1] == b'From BODY[]<99999> "")'
    client.close()


def test_large_literal_refused_before_login(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.send(b"p1 LOGIN {100000}\r\n")
    assert client.line() == b"p1 BAD [TOOBIG] Literal too large"
    client.login()
    client.send(b"p2 SELECT {100000}\r\n")
    assert client.line() == b"+ go ahead"
    client.send(b"x" * 100000 + b"\r\n")
    assert client.until_tagged(b"p2")[-1] == b"p2 NO [NONEXISTENT] Mailbox does not exist"
    client.close()
