"""The IMAP4rev1 command set of the engine, driven by imaplib (and a byte-level
client where imaplib hides the response), against the real store.

Ref: RFC 3501 6 (every command), RFC 3502 (MULTIAPPEND), RFC 4315 (UIDPLUS),
RFC 6851 (MOVE), RFC 6154 (SPECIAL-USE), RFC 4959 (SASL-IR), RFC 2342, 2971,
5161, 3691.
"""

from __future__ import annotations

import base64
import imaplib
import re

import pytest
from sqlalchemy import text

from tests.protocol.imap_support import (
    NESTED,
    TEXT,
    Raw,
    imaps,
    in_thread,
    numbered,
    seed,
)
from tests.support import PASSWORD, Operator

CAPS = {"IMAP4REV1", "LITERAL+", "ID", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "ENABLE",
        "CHILDREN", "SPECIAL-USE", "MULTIAPPEND", "MOVE", "BINARY"}


def _listing(data: list[bytes]) -> dict[str, str]:
    out = {}
    for line in data:
        match = re.match(rb'\(([^)]*)\) "/" (.*)', line)
        assert match, line
        out[match.group(2).strip(b'"').decode()] = match.group(1).decode()
    return out


async def test_any_state_and_login_commands(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> None:
        c = imaps(operator, bob)
        assert CAPS <= {cap.upper() for cap in c.capabilities}
        assert c.noop()[0] == "OK"
        assert c.namespace() == ("OK", [b'(("" "/")) NIL NIL'])
        assert c.xatom("ID", '("name" "test")')[0] == "OK"
        assert c.xatom("ENABLE", "CONDSTORE")[0] == "OK"
        assert c.logout()[0] == "BYE"
        c2 = imaplib.IMAP4_SSL("127.0.0.1", operator.ports["imaps"],
                               ssl_context=operator.client_context(), timeout=20)
        plain = f"\0{bob}\0{PASSWORD}".encode()
        assert c2.authenticate("PLAIN", lambda _: plain)[0] == "OK"
        c2.logout()

    await in_thread(run)
    raw = await in_thread(Raw, operator)
    ir = base64.b64encode(f"\0{bob}\0{PASSWORD}".encode())
    assert (await in_thread(raw.cmd, b"A", b"AUTHENTICATE PLAIN " + ir))[-1].startswith(
        b"A OK [CAPABILITY IMAP4rev1")
    raw.close()


async def test_special_use_folders_list_and_lsub(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> None:
        c = imaps(operator, bob)
        listed = _listing(c.list()[1])
        assert listed == {"INBOX": "\\HasNoChildren", "Drafts": "\\HasNoChildren \\Drafts",
                          "Junk": "\\HasNoChildren \\Junk", "Sent": "\\HasNoChildren \\Sent",
                          "Trash": "\\HasNoChildren \\Trash"}
        assert list(_listing(c.list('""', "%")[1])) == ["INBOX", "Drafts", "Junk", "Sent",
                                                        "Trash"]
        assert _listing(c.lsub()[1]) == {name: "" for name in listed}
        assert c.list('""', '""')[1] == [b'(\\Noselect) "/" ""']
        c.logout()

    await in_thread(run)


async def test_create_delete_rename_subscribe(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> None:
        c = imaps(operator, bob)
        assert c.create("Projets/2024/Q1")[0] == "OK"
        listed = _listing(c.list('""', "Projets*")[1])
        assert listed == {"Projets": "\\Noselect \\HasChildren",
                          "Projets/2024": "\\Noselect \\HasChildren",
                          "Projets/2024/Q1": "\\HasNoChildren"}
        assert c.select("Projets") == ("NO", [b"[NONEXISTENT] Mailbox does not exist"])
        assert c.create("Projets")[0] == "OK"
        assert _listing(c.list('""', "Projets")[1]) == {"Projets": "\\HasChildren"}
        assert c.create("Projets/2024/Q1") == ("NO", [b"[ALREADYEXISTS] Mailbox already exists"])
        assert c.create("inbox")[0] == "NO"
        assert c.create("Dossier/")[0] == "OK"
        assert _listing(c.list('""', "Dossier")[1]) == {"Dossier": "\\HasNoChildren"}
        assert c.create('"R&AOk-sultats"')[0] == "OK"
        assert b'"R&AOk-sultats"' in b" ".join(c.list('""', "R*")[1])
        assert c.delete("Projets")[0] == "OK"
        assert _listing(c.list('""', "%")[1])["Projets"] == "\\Noselect \\HasChildren"
        assert _listing(c.list('""', "*")[1])["Projets"] == "\\Noselect \\HasChildren"
        assert c.delete("Projets") == ("NO", [b"[NONEXISTENT] Mailbox does not exist"])
        assert c.delete("INBOX")[0] == "NO"
        assert c.rename("Projets/2024", "Archives/2024")[0] == "OK"
        assert set(_listing(c.list('""', "Archives*")[1])) == {
            "Archives", "Archives/2024", "Archives/2024/Q1"}
        assert c.rename("Dossier", "Archives/2024/Q1") == (
            "NO", [b"[ALREADYEXISTS] Target mailbox already exists"])
        assert c.rename("Nope", "Other") == ("NO", [b"[NONEXISTENT] Mailbox does not exist"])
        assert c.rename("Archives", "Archives/2024/Q1/x")[0] == "NO"
        c.logout()

    await in_thread(run)


async def test_delete_drops_the_contents_no_other_entry_references(operator: Operator) -> None:
    """DELETE removes the folder's entries (RFC 3501 6.3.4) and, in the same transaction,
    each content no other entry references; a content a copy in another folder shares stays."""
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n) for n in range(3)])
    assert operator.running is not None
    db = operator.running.services.db

    async def contents() -> int:
        async with db.read() as s:
            return int((await s.execute(text(
                "SELECT count(*) FROM message_content WHERE bal_id = :b"),
                {"b": operator.bals[bob].bal_id})).scalar_one())

    def file_away() -> None:
        c = imaps(operator, bob)
        assert c.create("Dossiers")[0] == "OK"
        c.select("INBOX")
        assert c.uid("MOVE", "1:2", "Dossiers")[0] == "OK"
        c.select("Dossiers")
        assert c.uid("COPY", "1", "Trash")[0] == "OK"
        c.logout()

    def delete(name: str) -> None:
        c = imaps(operator, bob)
        assert c.delete(name)[0] == "OK"
        c.logout()

    await in_thread(file_away)
    assert await contents() == 3
    await in_thread(delete, "Dossiers")
    assert await contents() == 2  # message 0 (copied to Trash) and message 2 (INBOX) stay
    await in_thread(delete, "Trash")
    assert await contents() == 1


async def test_subscriptions_survive_delete_and_lsub_percent(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> None:
        c = imaps(operator, bob)
        c.create("Suivi/Patients")
        assert c.subscribe("Suivi/Patients")[0] == "OK"
        assert c.subscribe("Nowhere")[0] == "NO"
        assert _listing(c.lsub('""', "Suivi/*")[1]) == {"Suivi/Patients": ""}
        assert _listing(c.lsub('""', "S%")[1]) == {"Sent": "", "Suivi": "\\Noselect"}
        assert c.delete("Suivi/Patients")[0] == "OK"
        assert _listing(c.lsub('""', "Suivi/*")[1]) == {"Suivi/Patients": "\\Noselect"}
        assert c.unsubscribe("Suivi/Patients")[0] == "OK"
        assert c.lsub('""', "Suivi/*")[1] == [None]
        assert c.unsubscribe("Trash")[0] == "OK"
        assert "Trash" not in _listing(c.lsub()[1])
        c.logout()

    await in_thread(run)


async def test_a_recreated_folder_takes_back_its_kept_subscription(operator: Operator) -> None:
    """RFC 3501 6.3.4, 6.3.6: DELETE keeps the name's subscription; a folder created again
    under that name is subscribed through its own row (the kept name is gone), and
    UNSUBSCRIBE then drops it."""
    bob = await operator.add_bal("bob")
    assert operator.running is not None
    db, bal_id = operator.running.services.db, operator.bals[bob].bal_id

    async def rows() -> tuple[int, list[bool]]:
        async with db.read() as s:
            kept = (await s.execute(text(
                "SELECT count(*) FROM folder_subscription WHERE bal_id = :b"),
                {"b": bal_id})).scalar_one()
            flags = (await s.execute(text(
                "SELECT subscribed FROM folder WHERE bal_id = :b AND name = 'Courriers'"),
                {"b": bal_id})).scalars()
            return int(kept), [bool(f) for f in flags]

    def drop() -> None:
        c = imaps(operator, bob)
        assert c.create("Courriers")[0] == "OK"
        assert c.subscribe("Courriers")[0] == "OK"
        assert c.delete("Courriers")[0] == "OK"
        assert _listing(c.lsub('""', "Courriers")[1]) == {"Courriers": "\\Noselect"}
        c.logout()

    def recreate() -> None:
        c = imaps(operator, bob)
        assert c.create("Courriers")[0] == "OK"
        assert _listing(c.lsub('""', "Courriers")[1]) == {"Courriers": ""}
        c.logout()

    def unsubscribe() -> None:
        c = imaps(operator, bob)
        assert c.unsubscribe("Courriers")[0] == "OK"
        assert c.lsub('""', "Courriers")[1] == [None]
        assert _listing(c.list('""', "Courriers")[1]) == {"Courriers": "\\HasNoChildren"}
        c.logout()

    await in_thread(drop)
    assert await rows() == (1, [])
    await in_thread(recreate)
    assert await rows() == (0, [True])
    await in_thread(unsubscribe)
    assert await rows() == (0, [False])


async def test_rename_inbox_moves_its_messages(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n) for n in range(3)])

    def run() -> None:
        c = imaps(operator, bob)
        before = c.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0]
        assert c.rename("INBOX", '"Ancienne boite"')[0] == "OK"
        assert c.status("INBOX", "(MESSAGES UIDVALIDITY UIDNEXT)")[1][0] == before.replace(
            b"(", b"(MESSAGES 0 ", 1)
        assert c.select('"Ancienne boite"') == ("OK", [b"3"])
        assert c.fetch("3", "(BODY.PEEK[])")[1][0][1] == numbered(2)
        c.logout()

    await in_thread(run)


async def test_recreated_folder_gets_a_new_uidvalidity(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> list[int]:
        c = imaps(operator, bob)
        values = []
        for _ in range(3):
            c.create("Temp")
            data = c.status("Temp", "(UIDVALIDITY)")[1][0]
            values.append(int(re.search(rb"UIDVALIDITY (\d+)", data).group(1)))
            c.delete("Temp")
        c.rename("Trash", "Corbeille")
        c.create("Trash")
        data = c.status("Trash", "(UIDVALIDITY)")[1][0]
        values.append(int(re.search(rb"UIDVALIDITY (\d+)", data).group(1)))
        c.logout()
        return values

    values = await in_thread(run)
    assert values == sorted(set(values))


async def test_status(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n) for n in range(4)],
               [frozenset({"\\Seen"}), frozenset(), frozenset({"$Urgent"}), frozenset()])

    def run() -> None:
        c = imaps(operator, bob)
        typ, data = c.status("INBOX", "(MESSAGES RECENT UIDNEXT UNSEEN)")
        assert data == [b'"INBOX" (MESSAGES 4 RECENT 4 UIDNEXT 5 UNSEEN 3)']
        c.select("INBOX")
        assert c.status("INBOX", "(RECENT UNSEEN)")[1] == [b'"INBOX" (RECENT 0 UNSEEN 3)']
        assert c.status("Nope", "(MESSAGES)") == ("NO", [b"[NONEXISTENT] Mailbox does not exist"])
        with pytest.raises(imaplib.IMAP4.error):
            c.status("INBOX", "(FROB)")
        c.logout()

    await in_thread(run)


async def test_append_flags_date_and_appenduid(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> None:
        c = imaps(operator, bob)
        typ, data = c.append("Drafts", r"(\Draft $Dossier-42)", '"14-Jul-2023 09:30:00 +0200"',
                             TEXT)
        assert typ == "OK"
        match = re.match(rb"\[APPENDUID (\d+) 1\] APPEND completed", data[0])
        assert match
        validity = match.group(1)
        c.select("Drafts")
        typ, data = c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE)")
        assert data[0] == (b'1 (FLAGS (\\Draft \\Recent $Dossier-42) INTERNALDATE "14-Jul-2023'
                           b' 07:30:00 +0000" RFC822.SIZE %d)' % len(TEXT))
        assert c.append("Drafts", None, None, NESTED)[1][0].startswith(
            b"[APPENDUID " + validity + b" 2]")
        assert c.response("EXISTS")[1][-1] == b"2"
        assert c.append("Nope", None, None, TEXT) == (
            "NO", [b"[TRYCREATE] Mailbox does not exist"])
        c.logout()

    await in_thread(run)


async def test_multiappend_binary_literal_and_empty(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    raw = await in_thread(Raw, operator, bob)
    one, two, three = numbered(1), numbered(2), numbered(3)
    raw.send(b"M APPEND Sent (\\Seen) {%d+}\r\n" % len(one) + one
             + b' ($Label1) " 5-Mar-2024 10:00:00 +0000" {%d+}\r\n' % len(two) + two
             + b" {%d+}\r\n" % len(three) + three + b"\r\n")
    lines = await in_thread(raw.until_tagged, b"M")
    assert re.fullmatch(rb"M OK \[APPENDUID \d+ 1:3\] APPEND completed", lines[-1]), lines
    binary = b"Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\x02\r\n"
    raw.send(b"B APPEND Sent ~{%d+}\r\n" % len(binary) + binary + b"\r\n")
    assert (await in_thread(raw.until_tagged, b"B"))[-1].startswith(b"B OK [APPENDUID")
    raw.send(b"N APPEND Sent {5+}\r\na\x00bcd\r\n")
    assert (await in_thread(raw.until_tagged, b"N"))[-1].startswith(b"N BAD")
    raw.send(b"E APPEND Sent {0+}\r\n\r\n")
    assert (await in_thread(raw.until_tagged, b"E"))[-1].startswith(b"E NO")
    raw.send(b"X APPEND Sent {3+}\r\nabc {4+}\r\nabcd {999999999}\r\n")
    assert (await in_thread(raw.until_tagged, b"X"))[-1].startswith(b"X NO [TOOBIG]")
    await in_thread(raw.cmd, b"S", b"EXAMINE Sent")
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1:* (FLAGS BODY.PEEK[])")
    assert len(lines) == 5
    assert lines[0].startswith(b"* 1 FETCH (FLAGS (\\Recent \\Seen) BODY[] {%d}" % len(one))
    assert lines[1].startswith(b"* 2 FETCH (FLAGS (\\Recent $Label1)")
    assert b"\x00" not in lines[3] and b"Content-Transfer-Encoding: base64\r\n" in lines[3]
    lines = await in_thread(raw.cmd, b"G", b"FETCH 4 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert lines[0] == b"* 4 FETCH (BINARY.SIZE[1] 5 BINARY[1] ~{5}\r\n\x00\x01\x02\r\n)"
    raw.close()


async def test_copy_move_and_copyuid(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n) for n in range(5)],
               [frozenset({"$Suivi", "\\Flagged"})] + [frozenset()] * 4)
    raw = await in_thread(Raw, operator, bob)
    await in_thread(raw.cmd, b"S", b"SELECT INBOX")
    lines = await in_thread(raw.cmd, b"C", b"COPY 1:2 Trash")
    assert re.fullmatch(rb"C OK \[COPYUID \d+ 1:2 1:2\] COPY completed", lines[-1]), lines
    lines = await in_thread(raw.cmd, b"U", b"UID COPY 5,1 Trash")
    assert re.fullmatch(rb"U OK \[COPYUID \d+ 1,5 3:4\] UID COPY completed", lines[-1]), lines
    assert (await in_thread(raw.cmd, b"T", b"COPY 1 Nope"))[-1] == (
        b"T NO [TRYCREATE] Mailbox does not exist")
    lines = await in_thread(raw.cmd, b"M", b"MOVE 2:3 Junk")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 2:3 1:2\] Moved", lines[0]), lines
    assert lines[1:] == [b"* 3 EXPUNGE", b"* 2 EXPUNGE", b"M OK MOVE completed"]
    lines = await in_thread(raw.cmd, b"V", b"UID MOVE 5 Junk")
    assert lines[1:] == [b"* 3 EXPUNGE", b"V OK UID MOVE completed"]
    assert (await in_thread(raw.cmd, b"W", b"UID MOVE 99 Junk")) == [b"W OK UID MOVE completed"]
    await in_thread(raw.cmd, b"E", b"EXAMINE Trash")
    items = b"(UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])"
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1:* " + items)
    assert lines[0].startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent $Suivi)")
    assert b"Subject: Message 0" in lines[0] and b"Subject: Message 4" in lines[3]
    assert (await in_thread(raw.cmd, b"R", b"MOVE 1 Junk"))[-1].startswith(b"R NO [READ-ONLY]")
    await in_thread(raw.cmd, b"J", b"EXAMINE Junk")
    lines = await in_thread(raw.cmd, b"G", b"UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert [b"Message %d" % n in line for n, line in zip((1, 2, 4), lines, strict=False)] == [
        True] * 3
    raw.close()


async def test_select_fetch_store_search_expunge(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n, body="needle" if n == 2 else "hay")
                                        for n in range(1, 6)])

    def run() -> None:
        c = imaps(operator, bob)
        assert c.select("INBOX") == ("OK", [b"5"])
        assert c.response("RECENT") == ("RECENT", [b"5"])
        assert c.search(None, "RECENT") == ("OK", [b"1 2 3 4 5"])
        assert c.search(None, "BODY", "needle") == ("OK", [b"2"])
        assert c.uid("SEARCH", "OR", "SUBJECT", '"Message 3"', "FROM", "sender4") == (
            "OK", [b"3 4"])
        assert c.store("1:3", "+FLAGS", r"(\Deleted $Traite)")[0] == "OK"
        assert c.store("2", "-FLAGS.SILENT", r"(\Deleted)") == ("OK", [None])
        assert c.fetch("2", "(FLAGS)")[1] == [b"2 (FLAGS (\\Recent $Traite))"]
        assert c.search(None, "KEYWORD", "$Traite", "UNDELETED") == ("OK", [b"2"])
        assert c.uid("EXPUNGE", "3")[0] == "OK"
        assert c.response("EXPUNGE") == ("EXPUNGE", [b"3"])
        assert c.check()[0] == "OK"
        assert c.expunge() == ("OK", [b"1"])
        assert c.uid("SEARCH", "ALL") == ("OK", [b"2 4 5"])
        c.store("1", "+FLAGS", r"(\Deleted)")
        assert c.close()[0] == "OK"
        assert c.select("INBOX", readonly=True) == ("OK", [b"2"])
        assert c.response("RECENT") == ("RECENT", [b"0"])
        assert c.store("1", "+FLAGS", r"(\Seen)")[0] == "NO"
        assert c.unselect()[0] == "OK"
        with pytest.raises(imaplib.IMAP4.error):
            c.fetch("1", "FLAGS")
        c.logout()

    await in_thread(run)
    events = {r["uids"][0] for r in await operator.audit_rows("imap.expunge")}
    assert events == {1, 2, 3}


async def _audit_table(operator: Operator, name: str) -> None:
    """Rename the audit table (`audit` away and back): its inserts then fail."""
    assert operator.running is not None
    frm, to = ("audit", name) if name != "audit" else ("audit_away", "audit")
    async with operator.running.services.db.write() as s:
        await s.execute(text(f"ALTER TABLE {frm} RENAME TO {to}"))


@pytest.mark.server_error("imap_store.imap.commands.dispatch",
                          r"IMAP (APPEND|STORE|EXPUNGE) failed(.|\n)*audit")
async def test_a_write_and_its_audit_record_commit_together(operator: Operator) -> None:
    """APPEND, STORE \\Deleted and EXPUNGE write their audit record in their own
    transaction (R24): when the record cannot be written, the write is not made."""
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(1)])
    c = await in_thread(imaps, operator, bob)
    assert (await in_thread(c.select, "INBOX"))[0] == "OK"
    await _audit_table(operator, "audit_away")
    try:
        appended = await in_thread(c.append, "INBOX", None, None, numbered(2))
        stored = await in_thread(c.store, "1", "+FLAGS", r"(\Deleted)")
    finally:
        await _audit_table(operator, "audit")
    assert appended[0] == "NO" and stored[0] == "NO", (appended, stored)
    assert await in_thread(c.uid, "SEARCH", "ALL") == ("OK", [b"1"])  # nothing appended
    assert await in_thread(c.uid, "SEARCH", "DELETED") == ("OK", [b""])  # nor flagged
    assert (await in_thread(c.store, "1", "+FLAGS", r"(\Deleted)"))[0] == "OK"
    await _audit_table(operator, "audit_away")
    try:
        expunged = await in_thread(c.expunge)
    finally:
        await _audit_table(operator, "audit")
    assert expunged[0] == "NO"
    assert await in_thread(c.uid, "SEARCH", "ALL") == ("OK", [b"1"])  # still there
    assert (await in_thread(c.expunge))[0] == "OK"
    await in_thread(c.logout)
    assert [r["uids"] for r in await operator.audit_rows("imap.store_deleted")] == [[1]]
    assert [r["uids"] for r in await operator.audit_rows("imap.expunge")] == [[1]]
