"""Several sessions on one mailbox (real store): an EXPUNGE in one appears in
the other at the right time and never during its FETCH, STORE or SEARCH;
\\Recent goes to exactly one session; a mailbox deleted under a session ends
it with BYE.

Ref: RFC 3501 2.3.2, 5.2, 7.4.1; RFC 2180 4; RFC 2177.
"""

from __future__ import annotations

import asyncio
import socket

from tests.protocol.imap_support import Raw, aio_client, in_thread, numbered, seed
from tests.support import PASSWORD, Operator


async def _two(operator: Operator, count: int) -> tuple[str, Raw, Raw]:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n, body="x" * 2000) for n in range(count)])
    one, two = await in_thread(Raw, operator, bob), await in_thread(Raw, operator, bob)
    for raw in (one, two):
        assert (await in_thread(raw.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    return bob, one, two


async def test_expunge_is_held_back_during_fetch_store_search(operator: Operator) -> None:
    _, one, two = await _two(operator, 4)
    await in_thread(two.cmd, b"D", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert await in_thread(two.cmd, b"X", b"EXPUNGE") == [b"* 2 EXPUNGE",
                                                           b"X OK EXPUNGE completed"]
    # RFC 2180 4.1, as Dovecot: the view still answers UID for message 2 and FETCH is OK;
    # its body is gone, so a body FETCH skips it and ends OK [EXPUNGEISSUED], never NO.
    fetch = await in_thread(one.cmd, b"F", b"FETCH 1:4 (UID)")
    assert fetch == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)",
                     b"* 4 FETCH (UID 4)", b"F OK FETCH completed"]
    bodies = await in_thread(one.cmd, b"B", b"FETCH 2:3 (UID RFC822.SIZE BODY.PEEK[TEXT])")
    assert len(bodies) == 2 and bodies[0].startswith(b"* 3 FETCH (UID 3 RFC822.SIZE ")
    assert bodies[0].endswith(b" BODY[TEXT] {2004}\r\n" + b"x" * 2000 + b" 2\r\n)")
    assert bodies[-1] == b"B OK [EXPUNGEISSUED] Some messages were expunged meanwhile"
    # RFC 2180 4.2, as Dovecot: STORE leaves the expunged message alone and is OK.
    store = await in_thread(one.cmd, b"T", b"STORE 2:3 +FLAGS (\\Flagged)")
    assert store == [b"* 3 FETCH (FLAGS (\\Flagged \\Recent))", b"T OK STORE completed"]
    assert await in_thread(one.cmd, b"V", b"STORE 2 +FLAGS.SILENT (\\Deleted)") == [
        b"V OK STORE completed"]
    assert await in_thread(one.cmd, b"Q", b"SEARCH ALL") == [b"* SEARCH 1 3 4",
                                                              b"Q OK SEARCH completed"]
    assert await in_thread(one.cmd, b"N", b"NOOP") == [b"* 2 EXPUNGE", b"N OK NOOP completed"]
    assert await in_thread(one.cmd, b"G", b"FETCH 2 (UID)") == [b"* 2 FETCH (UID 3)",
                                                                 b"G OK FETCH completed"]
    assert await in_thread(two.cmd, b"N", b"NOOP") == [
        b"* 2 FETCH (UID 3 FLAGS (\\Flagged))", b"N OK NOOP completed"]
    one.close()
    two.close()


BIG_BODY = ("x" * 74 + "\r\n") * 880  # about 66 KB a message


class SlowReader(Raw):
    """`Raw` with a small, fixed receive buffer: the server's writes stall (it
    drains) as soon as the client stops reading, so a long FETCH stays in flight."""

    def __init__(self, op: Operator, user: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.settimeout(20)
        sock.connect(("127.0.0.1", op.ports["imaps"]))
        self.sock = op.client_context().wrap_socket(sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.line()
        assert self.cmd(b"L", b"LOGIN " + user.encode() + b' "' + PASSWORD.encode()
                        + b'"')[-1].startswith(b"L OK")


async def test_expunge_during_a_long_fetch_waits_for_its_end(operator: Operator) -> None:
    """The EXPUNGE commits while the FETCH is provably in flight (message 1 read,
    the server stalled far before message 150: 150 x 66 KB is more than the
    socket buffers hold). The FETCH then carries every body it can, exact and
    in order, skips the one expunged ahead of it, ends OK [EXPUNGEISSUED], and no
    EXPUNGE is sent before it ends (RFC 3501 7.4.1, RFC 2180 4.1.2)."""
    bob = await operator.add_bal("bob")
    messages = [numbered(n, body=BIG_BODY) for n in range(1, 151)]
    await seed(operator, bob, "INBOX", messages)
    one = await in_thread(SlowReader, operator, bob)
    two = await in_thread(Raw, operator, bob)
    for raw in (one, two):
        assert (await in_thread(raw.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")

    await in_thread(one.send, b"F FETCH 1:150 (UID BODY.PEEK[])\r\n")
    first = await in_thread(one.line)
    assert first == b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)" % (len(messages[0]), messages[0])
    assert await in_thread(two.cmd, b"D", b"STORE 1,150 +FLAGS.SILENT (\\Deleted)") == [
        b"D OK STORE completed"]
    assert await in_thread(two.cmd, b"X", b"EXPUNGE") == [
        b"* 150 EXPUNGE", b"* 1 EXPUNGE", b"X OK EXPUNGE completed"]

    rest = await in_thread(one.until_tagged, b"F")
    expected = [b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)" % (n, n, len(messages[n - 1]),
                                                            messages[n - 1])
                for n in range(2, 150)]
    assert rest[:-1] == expected, [line[:40] for line in rest[:-1] if line not in expected]
    assert rest[-1] == b"F OK [EXPUNGEISSUED] Some messages were expunged meanwhile"
    assert await in_thread(one.cmd, b"N", b"NOOP") == [
        b"* 150 EXPUNGE", b"* 1 EXPUNGE", b"N OK NOOP completed"]
    assert await in_thread(one.cmd, b"G", b"FETCH 1,148 (UID)") == [
        b"* 1 FETCH (UID 2)", b"* 148 FETCH (UID 149)", b"G OK FETCH completed"]
    one.close()
    two.close()


async def test_uid_commands_and_idle_report_expunge_at_once(operator: Operator) -> None:
    bob, one, two = await _two(operator, 3)
    await in_thread(two.cmd, b"D", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    await in_thread(two.cmd, b"X", b"EXPUNGE")
    assert await in_thread(one.cmd, b"U", b"UID FETCH 1:* (UID)") == [
        b"* 1 EXPUNGE", b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)", b"U OK UID FETCH completed"]
    watcher = await aio_client(operator, bob)
    await watcher.select("INBOX")
    idle = await watcher.idle_start(timeout=30)
    await in_thread(two.cmd, b"E", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    await in_thread(two.cmd, b"Y", b"EXPUNGE")
    pushed = []
    while not any(b"EXPUNGE" in line for line in pushed):
        pushed += [p if isinstance(p, bytes) else p.encode()
                   for p in await watcher.wait_server_push(timeout=5)]
    watcher.idle_done()
    await asyncio.wait_for(idle, 10)
    assert b"1 EXPUNGE" in pushed
    await watcher.logout()
    one.close()
    two.close()


async def test_recent_goes_to_one_session(operator: Operator) -> None:
    bob, one, two = await _two(operator, 2)
    assert b"* 0 RECENT" in await in_thread(two.cmd, b"S", b"SELECT INBOX")
    await seed(operator, bob, "INBOX", [numbered(9)])
    assert await in_thread(two.cmd, b"N", b"NOOP") == [b"* 3 EXISTS", b"* 1 RECENT",
                                                        b"N OK NOOP completed"]
    assert await in_thread(one.cmd, b"N", b"NOOP") == [b"* 3 EXISTS", b"* 2 RECENT",
                                                        b"N OK NOOP completed"]
    assert await in_thread(two.cmd, b"R", b"SEARCH RECENT") == [b"* SEARCH 3",
                                                                 b"R OK SEARCH completed"]
    assert await in_thread(one.cmd, b"R", b"SEARCH NEW") == [b"* SEARCH 1 2",
                                                              b"R OK SEARCH completed"]
    one.close()
    two.close()


async def test_appended_message_is_recent_to_the_appender(operator: Operator) -> None:
    """RFC 3501 2.3.2, 6.3.11: an APPEND into the selected mailbox is reported to its
    session with EXISTS and RECENT, together with a delivery no session was told of
    yet; another session then sees both without \\Recent. The APPEND moves the
    folder's recent floor in its own transaction: one write unit, no second one."""
    bob, one, two = await _two(operator, 2)
    await seed(operator, bob, "INBOX", [numbered(9)])  # UID 3: told to nobody yet
    message = numbered(10)
    assert operator.running is not None
    writer = operator.running.services.db.writer
    units = writer.units
    lines = await in_thread(one.cmd, b"A", b"APPEND INBOX {%d+}\r\n" % len(message) + message)
    assert lines[:2] == [b"* 4 EXISTS", b"* 4 RECENT"], lines
    assert lines[-1].startswith(b"A OK [APPENDUID ") and lines[-1].endswith(b" 4] APPEND completed")
    assert writer.units == units + 1  # the APPEND's unit only: no claim of its own
    assert await in_thread(two.cmd, b"N", b"NOOP") == [b"* 4 EXISTS", b"* 0 RECENT",
                                                        b"N OK NOOP completed"]
    assert await in_thread(one.cmd, b"R", b"SEARCH RECENT") == [b"* SEARCH 1 2 3 4",
                                                                 b"R OK SEARCH completed"]
    # EXAMINE claims nothing: the next APPEND is recent to the session that sees it first.
    assert (await in_thread(one.cmd, b"E", b"EXAMINE INBOX"))[-1].startswith(b"E OK")
    lines = await in_thread(one.cmd, b"B", b"APPEND INBOX {%d+}\r\n" % len(message) + message)
    assert lines[:2] == [b"* 5 EXISTS", b"* 1 RECENT"], lines
    assert await in_thread(two.cmd, b"M", b"NOOP") == [b"* 5 EXISTS", b"* 1 RECENT",
                                                        b"M OK NOOP completed"]
    one.close()
    two.close()


async def test_deleted_mailbox_ends_the_other_session(operator: Operator) -> None:
    bob, one, two = await _two(operator, 1)
    await in_thread(one.cmd, b"C", b"CREATE Work")
    await in_thread(one.cmd, b"W", b"SELECT Work")
    await in_thread(two.cmd, b"W", b"SELECT Work")
    assert await in_thread(one.cmd, b"D", b"DELETE Work") == [b"D OK DELETE completed"]
    assert (await in_thread(one.cmd, b"F", b"FETCH 1 FLAGS"))[-1].startswith(b"F BAD")
    lines = await in_thread(two.cmd, b"N", b"NOOP")
    assert lines[0].startswith(b"* BYE") and lines[-1] == b"N OK NOOP completed"
    one.close()
    two.close()
