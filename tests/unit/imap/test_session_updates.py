"""Two sessions on one mailbox: EXISTS, FETCH FLAGS, held-back EXPUNGE, IDLE."""

from __future__ import annotations

import time

from tests.unit.imap.conftest import RawClient, ServerThread, TlsMaterial
from tests.unit.imap.messages import message


def selected(server: ServerThread, tls: TlsMaterial) -> RawClient:
    client = RawClient(server.tls_port, tls)
    client.login()
    assert client.cmd(b"S", b"SELECT INBOX")[-1] == b"S OK [READ-WRITE] SELECT completed"
    return client


def test_select_responses(server: ServerThread, tls: TlsMaterial) -> None:
    server.deliver(message(1), flags=frozenset({"\\Seen"}))
    server.deliver(message(2))
    client = RawClient(server.tls_port, tls)
    client.login()
    lines = client.cmd(b"S", b"SELECT INBOX")
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert lines[1:4] == [b"* 2 EXISTS", b"* 2 RECENT", b"* OK [UNSEEN 2] First unseen"]
    assert lines[4] == (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
                        b" Flags permitted")
    assert lines[5].startswith(b"* OK [UIDVALIDITY ")
    assert lines[6] == b"* OK [UIDNEXT 3] Predicted next UID"
    again = client.cmd(b"E", b"EXAMINE INBOX")
    assert again[0] == b"* OK [CLOSED] Previous mailbox closed"
    assert again[-1] == b"E OK [READ-ONLY] EXAMINE completed"
    client.close()


def test_other_session_changes(server: ServerThread, tls: TlsMaterial) -> None:
    for n in range(1, 4):
        server.deliver(message(n))
    a, b = selected(server, tls), selected(server, tls)
    server.deliver(message(4))
    assert a.cmd(b"n1", b"NOOP") == [b"* 4 EXISTS", b"* 4 RECENT", b"n1 OK NOOP completed"]
    assert b.cmd(b"m1", b"STORE 2 +FLAGS.SILENT (\\Flagged)") == [
        b"* 4 EXISTS", b"* 0 RECENT", b"m1 OK STORE completed"]
    assert a.cmd(b"n2", b"NOOP") == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
                                     b"n2 OK NOOP completed"]
    assert b.cmd(b"m2", b"STORE 1 +FLAGS.SILENT (\\Deleted)")[-1] == b"m2 OK STORE completed"
    assert b.cmd(b"m3", b"EXPUNGE") == [b"* 1 EXPUNGE", b"m3 OK EXPUNGE completed"]
    # RFC 2180 4.1, as Dovecot: what the view holds of the expunged message is
    # answered, its content (gone) is not, and FETCH ends OK, never NO.
    assert a.cmd(b"n3", b"FETCH 1:* (UID)") == [
        b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)", b"* 4 FETCH (UID 4)",
        b"n3 OK FETCH completed"]
    body = a.cmd(b"b3", b"FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert not any(line.startswith(b"* 1 ") or line.endswith(b" EXPUNGE") for line in body)
    assert body[0].startswith(b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {")
    assert body[-1] == b"b3 OK [EXPUNGEISSUED] Some messages were expunged meanwhile"
    assert a.cmd(b"s3", b"STORE 1:2 +FLAGS (\\Answered)") == [
        b"* 2 FETCH (FLAGS (\\Answered \\Flagged \\Recent))", b"s3 OK STORE completed"]
    assert not any(line.endswith(b" EXPUNGE") for line in a.cmd(b"n4", b"SEARCH ALL"))
    assert a.cmd(b"n5", b"SEARCH ALL")[0] == b"* SEARCH 2 3 4"
    assert a.cmd(b"n6", b"NOOP") == [b"* 1 EXPUNGE", b"n6 OK NOOP completed"]
    assert a.cmd(b"n7", b"SEARCH ALL")[0] == b"* SEARCH 1 2 3"
    a.close()
    b.close()


def test_uid_commands_may_report_expunge(server: ServerThread, tls: TlsMaterial) -> None:
    server.deliver(message(1))
    server.deliver(message(2))
    a, b = selected(server, tls), selected(server, tls)
    b.cmd(b"m1", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd(b"m2", b"EXPUNGE")
    assert a.cmd(b"u1", b"UID FETCH 1:* (FLAGS)") == [
        b"* 1 EXPUNGE", b"* 1 FETCH (UID 2 FLAGS (\\Recent))", b"u1 OK UID FETCH completed"]
    a.close()
    b.close()


def test_idle_reports_delivery_within_a_second(server: ServerThread, tls: TlsMaterial) -> None:
    server.deliver(message(1))
    client = selected(server, tls)
    client.send(b"i1 IDLE\r\n")
    assert client.line() == b"+ idling"
    started = time.monotonic()
    server.deliver(message(2))
    assert client.line() == b"* 2 EXISTS"
    assert time.monotonic() - started < 1.0
    client.send(b"DONE\r\n")
    assert client.until_tagged(b"i1") == [b"* 2 RECENT", b"i1 OK IDLE terminated"]
    client.send(b"i2 IDLE\r\n")
    assert client.line() == b"+ idling"
    client.send(b"NOPE\r\n")
    assert client.until_tagged(b"i2") == [b"i2 BAD Expected DONE"]
    client.close()


def test_idle_in_authenticated_state(server: ServerThread, tls: TlsMaterial) -> None:
    client = RawClient(server.tls_port, tls)
    client.login()
    client.send(b"i1 IDLE\r\n")
    assert client.line() == b"+ idling"
    server.deliver(message(1))
    client.send(b"DONE\r\n")
    assert client.until_tagged(b"i1") == [b"i1 OK IDLE terminated"]
    client.close()
