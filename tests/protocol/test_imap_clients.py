"""aioimaplib and IMAPClient over the same command set, on the real store:
structures parsed strictly by IMAPClient, custom keywords surviving STORE,
COPY and APPEND with each client, mailbox management, MOVE, STATUS, IDLE.

Ref: RFC 3501; RFC 3502, 4315, 6851, 6154, 2177.
"""

from __future__ import annotations

import asyncio
import re

from tests.protocol.imap_support import (
    EIGHT_BIT,
    NESTED,
    TEXT,
    aio_client,
    imapclient_for,
    imaps,
    in_thread,
    seed,
)
from tests.support import Operator


async def test_imapclient_parses_structures_and_manages_folders(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [NESTED, EIGHT_BIT])

    def run() -> None:
        c = imapclient_for(operator, bob)
        assert c.find_special_folder(b"\\Sent") == "Sent"
        assert c.find_special_folder(b"\\Trash") == "Trash"
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == 2 and info[b"RECENT"] == 2
        data = c.fetch([1, 2], ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE"])
        nested = data[1][b"BODYSTRUCTURE"]
        assert nested.is_multipart and nested[1] == b"MIXED"
        message_part = nested[0][1]
        assert message_part[:2] == (b"MESSAGE", b"RFC822")
        inner = message_part[8]
        assert inner[0][:2] == (b"TEXT", b"PLAIN") and inner[1][:2] == (b"TEXT", b"HTML")
        assert inner[2] == b"ALTERNATIVE"
        assert message_part[7][9] == b"<inner-1@op-b>"
        assert nested[0][2][8] == (b"ATTACHMENT", (b"FILENAME*", b"utf-8''compte%20rendu.pdf"))
        assert data[1][b"RFC822.SIZE"] == len(NESTED)
        envelope = data[2][b"ENVELOPE"]
        assert envelope.subject == "Résultats d'analyse".encode()
        assert envelope.from_[0].name == b"=?utf-8?q?H=C3=A9l=C3=A8ne_Dupr=C3=A9?="
        assert envelope.cc[0].mailbox == b"Team" and envelope.cc[0].host is None
        assert c.create_folder("Dossiers/Cardio") == b"CREATE completed"
        c.subscribe_folder("Dossiers/Cardio")
        assert "Dossiers/Cardio" in [name for _, _, name in c.list_sub_folders()]
        c.rename_folder("Dossiers/Cardio", "Dossiers/Cardiologie")
        assert c.folder_status("Dossiers/Cardiologie", ["MESSAGES"]) == {b"MESSAGES": 0}
        c.delete_folder("Dossiers/Cardiologie")
        assert not c.folder_exists("Dossiers/Cardiologie")
        c.logout()

    await in_thread(run)


async def test_imapclient_keywords_survive_store_copy_append(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [TEXT, NESTED])

    def run() -> None:
        c = imapclient_for(operator, bob)
        c.select_folder("INBOX")
        c.add_flags([1], [b"$Dossier-42", b"Urgent"])
        assert set(c.get_flags([1])[1]) >= {b"$Dossier-42", b"Urgent"}
        c.copy([1], "Trash")
        appended = c.append("Drafts", TEXT, flags=[b"$Brouillon", b"\\Draft"])
        match = re.match(rb"\[APPENDUID \d+ (\d+)\]", appended)
        assert match
        uids = [int(match.group(1))]
        c.select_folder("Trash")
        assert {b"$Dossier-42", b"Urgent"} <= set(c.get_flags([1])[1])
        c.select_folder("Drafts")
        assert set(c.get_flags(uids)[uids[0]]) >= {b"$Brouillon", b"\\Draft"}
        c.select_folder("INBOX")
        c.move([2], "Junk")
        assert c.search() == [1]
        c.idle()
        c2 = imaps(operator, bob)
        c2.append("INBOX", None, None, TEXT)
        responses = c.idle_check(timeout=5)
        c.idle_done()
        assert (2, b"EXISTS") in responses
        c2.logout()
        c.logout()

    await in_thread(run)


async def test_aioimaplib_keywords_survive_store_copy_append(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [TEXT, NESTED, EIGHT_BIT])
    client = await aio_client(operator, bob)
    assert (await client.select("INBOX")).result == "OK"
    assert (await client.store("1", "+FLAGS", "($Suivi Important)")).result == "OK"
    copied = await client.uid("copy", "1:2", "Trash")
    assert copied.result == "OK" and b"COPYUID" in copied.lines[-1]
    appended = await client.append(TEXT, mailbox="Sent", flags="(\\Seen $Envoye)")
    assert appended.result == "OK" and b"APPENDUID" in appended.lines[-1]
    moved = await client.move("3", "Junk")
    assert moved.result == "OK"
    assert any(b"EXPUNGE" in line for line in moved.lines)
    assert (await client.examine("Trash")).result == "OK"
    flags = await client.fetch("1:2", "(FLAGS)")
    assert b"$Suivi" in flags.lines[0] and b"Important" in flags.lines[0]
    assert b"$Suivi" not in flags.lines[1]
    assert (await client.examine("Sent")).result == "OK"
    assert b"$Envoye" in (await client.fetch("1", "(FLAGS)")).lines[0]
    status = await client.status("Junk", "(MESSAGES UNSEEN UIDNEXT)")
    assert status.lines[0] == b'"Junk" (MESSAGES 1 UNSEEN 1 UIDNEXT 2)'
    assert (await client.create("Archives")).result == "OK"
    assert (await client.rename("Archives", "Archives2024")).result == "OK"
    assert (await client.subscribe("Archives2024")).result == "OK"
    lsub = await client.lsub('""', "*")
    assert any(b"Archives2024" in line for line in lsub.lines)
    assert (await client.delete("Archives2024")).result == "OK"
    assert (await client.select("INBOX")).result == "OK"
    assert (await client.store("1", "+FLAGS", "(\\Deleted)")).result == "OK"
    assert (await client.check()).result == "OK"
    assert (await client.expunge()).result == "OK"
    assert (await client.close()).result == "OK"
    assert (await client.logout()).result == "OK"


async def test_aioimaplib_idle_sees_append_of_other_client(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    client = await aio_client(operator, bob)
    await client.select("INBOX")
    idle = await client.idle_start(timeout=30)
    other = await aio_client(operator, bob)
    await other.append(TEXT, mailbox="INBOX")
    pushed = await client.wait_server_push(timeout=5)
    client.idle_done()
    await asyncio.wait_for(idle, 10)
    assert any(b"1 EXISTS" in (p if isinstance(p, bytes) else p.encode()) for p in pushed)
    await other.logout()
    await client.logout()
