"""IMAPClient parses our ENVELOPE, BODYSTRUCTURE, LIST and flags strictly."""

from __future__ import annotations

import imapclient

from tests.unit.imap.conftest import ServerThread, TlsMaterial
from tests.unit.imap.test_message_structure import MULTI


def test_imapclient_reads_structures(server: ServerThread, tls: TlsMaterial) -> None:
    server.deliver(MULTI)
    client = imapclient.IMAPClient("127.0.0.1", port=server.tls_port, ssl=True,
                                   ssl_context=tls.client_context(), timeout=5)
    client.login("alice@op-a.mssante.fr", "secret")
    folders = {name: flags for flags, _, name in client.list_folders()}
    assert folders["Données"] == (b"\\HasNoChildren",)
    assert b"\\Sent" in folders["Sent"]
    info = client.select_folder("INBOX")
    assert info[b"EXISTS"] == 1 and info[b"UIDNEXT"] == 2
    data = client.fetch([1], ["ENVELOPE", "BODYSTRUCTURE", "FLAGS", "INTERNALDATE"])[1]
    envelope = data[b"ENVELOPE"]
    assert envelope.subject == b"multi"
    assert envelope.from_[0].mailbox == b"a" and envelope.from_[0].host == b"x"
    structure = data[b"BODYSTRUCTURE"]
    assert structure.is_multipart
    assert structure[0][0][:2] == (b"TEXT", b"PLAIN")
    assert structure[0][2][:2] == (b"APPLICATION", b"PDF")
    assert structure[1] == b"MIXED"
    client.add_flags([1], [b"$Phishing"])
    assert b"$Phishing" in client.get_flags([1])[1]
    assert client.search(["UNSEEN"]) == [1]
    client.idle()
    server.deliver(MULTI)
    assert (2, b"EXISTS") in client.idle_check(timeout=2)
    client.idle_done()
    client.logout()
