"""Selected-state commands through imaplib, plus audit events."""

from __future__ import annotations

import datetime as dt
import imaplib
import re
from collections.abc import Iterator

import pytest

from tests.unit.imap.conftest import ServerThread, TlsMaterial
from tests.unit.imap.messages import message


@pytest.fixture
def imap(server: ServerThread, tls: TlsMaterial) -> Iterator[imaplib.IMAP4_SSL]:
    for n in range(1, 4):
        server.deliver(message(n), internaldate=dt.datetime(2024, 3, n, 12, tzinfo=dt.UTC))
    client = imaplib.IMAP4_SSL("127.0.0.1", server.tls_port, ssl_context=tls.client_context(),
                               timeout=5)
    client.login("alice@op-a.mssante.fr", "secret")
    client.select("INBOX")  # claims \Recent, so the flags below are the stored ones
    client.unselect()
    yield client
    client.logout()


def test_list_lsub_namespace_id_enable(imap: imaplib.IMAP4_SSL) -> None:
    typ, data = imap.list()
    assert typ == "OK"
    assert b'(\\HasNoChildren) "/" "INBOX"' in data
    assert b'(\\HasNoChildren \\Sent) "/" "Sent"' in data
    assert b'(\\HasChildren) "/" "Archives"' in data
    assert b'(\\HasNoChildren) "/" "Donn&AOk-es"' in data
    assert imap.list('""', "%")[1].__len__() == 5
    assert imap.list("Archives/", "%")[1] == [b'(\\HasNoChildren) "/" "Archives/2023"']
    assert imap.list('""', "inbox")[1] == [b'(\\HasNoChildren) "/" "INBOX"']
    assert imap.list('""', '""')[1] == [b'(\\Noselect) "/" ""']
    assert b'() "/" "Archives"' not in imap.lsub()[1]
    typ, data = imap.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    typ, data = imap.xatom("ID", "NIL")
    assert typ == "OK"
    assert imap.untagged_responses.pop("ID") == [b'("name" "mss-server" "vendor" "mss-server")']
    assert imap.xatom("ENABLE", "CONDSTORE")[0] == "OK"


def test_select_fetch_store_expunge(imap: imaplib.IMAP4_SSL, server: ServerThread) -> None:
    typ, data = imap.select("INBOX")
    assert (typ, data) == ("OK", [b"3"])
    assert imap.untagged_responses.get("UIDVALIDITY")
    assert imap.response("UIDNEXT")[1] == [b"4"]
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"1 2 3"])
    assert imap.uid("SEARCH", "UNSEEN") == ("OK", [b"1 2 3"])
    assert imap.search(None, "SINCE", "2-Mar-2024") == ("OK", [b"2 3"])
    assert imap.search(None, "BEFORE", "2-Mar-2024") == ("OK", [b"1"])
    typ, data = imap.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert data[0] == (b'1 (UID 1 FLAGS () RFC822.SIZE %d INTERNALDATE " 1-Mar-2024 12:00:00'
                       b' +0000")' % len(message(1)))
    typ, data = imap.fetch("2", "(BODY.PEEK[])")
    assert data[0][1] == message(2)
    assert imap.search(None, "SEEN") == ("OK", [b""])
    typ, data = imap.uid("FETCH", "2", "(BODY[])")
    assert data[0][0].startswith(b"2 (UID 2 BODY[] {")
    assert b"FLAGS (\\Seen)" in data[1]
    assert imap.uid("SEARCH", "SEEN") == ("OK", [b"2"])
    typ, data = imap.fetch("3", "(RFC822.HEADER BODY[HEADER.FIELDS (SUBJECT)] ENVELOPE)")
    assert data[0][1].startswith(b"From:") and data[1][1] == b"Subject: Hello 3\r\n\r\n"
    assert b'ENVELOPE ("Tue, 5 Mar 2024 10:03:00 +0100" "Hello 3"' in data[2]
    typ, data = imap.fetch("1", "(BODY[TEXT]<0.4> BODYSTRUCTURE)")
    assert data[0][1] == b"Body" and b'BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "utf-8")' in data[1]
    typ, data = imap.fetch("1", "FULL")
    assert b"ENVELOPE" in data[0] and b" BODY (" in data[0]
    assert imap.store("1:2", "+FLAGS", r"(\Deleted $Label1)")[1][0] is not None
    assert imap.store("3", "+FLAGS.SILENT", r"(\Flagged)") == ("OK", [None])
    assert imap.search(None, "FLAGGED") == ("OK", [b"3"])
    assert imap.store("3", "-FLAGS", r"(\Flagged)")[1] == [b"3 (FLAGS (\\Seen))"]
    typ, data = imap.expunge()
    assert (typ, data) == ("OK", [b"2", b"1"])
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"3"])
    names = server.backend.audit.names()
    for event in ("imap.select", "imap.fetch_body", "imap.store_deleted", "imap.expunge"):
        assert event in names
    body_events = [e for e in server.backend.audit.events if e.event == "imap.fetch_body"]
    assert body_events[0].detail["uids"] == [2] and body_events[0].person == "alice"
    expunged = [e for e in server.backend.audit.events if e.event == "imap.expunge"]
    assert expunged[0].detail["uids"] == [1, 2]
    assert all("Hello" not in repr(e) for e in server.backend.audit.events)


def test_examine_is_read_only(imap: imaplib.IMAP4_SSL) -> None:
    typ, _ = imap.select("INBOX", readonly=True)
    assert typ == "OK"
    imap.fetch("1", "(BODY[])")
    assert imap.search(None, "SEEN") == ("OK", [b""])
    assert imap.store("1", "+FLAGS", r"(\Deleted)") == (
        "NO", [b"[READ-ONLY] Mailbox is read-only"])
    assert imap.expunge()[0] == "NO"


def test_search_and_fetch_errors(imap: imaplib.IMAP4_SSL) -> None:
    imap.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="Unknown search key"):
        imap.search(None, "FROBNICATE")
    assert imap.search("KOI8-R", "ALL") == (
        "NO", [b"[BADCHARSET (US-ASCII UTF-8)] Unsupported charset"])
    with pytest.raises(imaplib.IMAP4.error, match="Invalid message sequence number"):
        imap.fetch("7", "FLAGS")
    assert imap.uid("FETCH", "7", "FLAGS") == ("OK", [None])
    assert imap.select("Nope") == ("NO", [b"[NONEXISTENT] Mailbox does not exist"])
    assert imap.state == "AUTH"


def test_uid_expunge_close_unselect_check(imap: imaplib.IMAP4_SSL) -> None:
    imap.select("INBOX")
    imap.store("1:3", "+FLAGS.SILENT", r"(\Deleted)")
    assert imap.uid("EXPUNGE", "2")[0] == "OK"
    assert imap.response("EXPUNGE") == ("EXPUNGE", [b"2"])
    assert imap.check()[0] == "OK"
    assert imap.unselect()[0] == "OK"
    imap.select("INBOX")
    assert imap.close()[0] == "OK"
    imap.select("INBOX")
    assert imap.uid("SEARCH", "ALL") == ("OK", [b""])


def test_keyword_flags_are_announced(imap: imaplib.IMAP4_SSL) -> None:
    imap.select("INBOX")
    imap.store("1", "+FLAGS", "($Phishing)")
    flags = imap.untagged_responses.get("FLAGS", [])
    assert any(b"$Phishing" in f for f in flags)
    assert re.search(rb"\$Phishing", imap.fetch("1", "FLAGS")[1][0])
