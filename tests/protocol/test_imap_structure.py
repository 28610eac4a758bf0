"""ENVELOPE, BODYSTRUCTURE, BODY and sections against RFC 3501 exactly, on the
real store: nested message/rfc822 parts, 8-bit and encoded headers, sizes,
line counts, parameters, dispositions, languages, locations; and the meta
they come from is stored at delivery: FETCH of them never decrypts the whole
message.

Ref: RFC 3501 6.4.5, 7.4.2, 9; RFC 3516 (BINARY).
"""

from __future__ import annotations

import base64

from imap_store.store.delivery import DeliveryPlan, LocalCopy
from imap_store.store.models import MessageContent
from tests.protocol.imap_support import EIGHT_BIT, INNER, NESTED, TEXT, Raw, in_thread, seed
from tests.support import Operator


def _inner_structure() -> bytes:
    html = b"<p>html=20inner</p>"
    return (b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 11 1 NIL NIL NIL NIL)'
            b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" %d 1 NIL NIL NIL NIL)'
            b' "ALTERNATIVE" ("BOUNDARY" "in") NIL NIL NIL)' % len(html))


INNER_ENVELOPE = (
    b'(NIL "=?iso-8859-1?q?R=E9sultat_inclus?=" ((NIL NIL "lab" "op-b.mssante.fr"))'
    b' ((NIL NIL "lab" "op-b.mssante.fr")) ((NIL NIL "lab" "op-b.mssante.fr"))'
    b' NIL NIL NIL NIL "<inner-1@op-b>")')
PART1 = b"Voir le message joint.\r\nDeux lignes."
PART1_MIME = (b"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
              b"Content-ID: <part1@op-a>\r\nContent-Description: Note\r\n\r\n")
NESTED_STRUCTURE = (
    b'(("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") "<part1@op-a>" "Note" "7BIT"'
    b' %d 2 NIL NIL NIL NIL)' % len(PART1)
    + b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d ' % len(INNER) + INNER_ENVELOPE + b" "
    + _inner_structure() + b' %d NIL ("INLINE" NIL) NIL NIL)' % INNER.count(b"\n")
    + b'("APPLICATION" "PDF" ("NAME" "cr.pdf") NIL NIL "BASE64" 16 "Q2hlY2sgSW50ZWdyaXR5IQ=="'
      b' ("ATTACHMENT" ("FILENAME*" "utf-8\'\'compte%20rendu.pdf")) "fr"'
      b' "http://example.test/cr.pdf")'
      b' "MIXED" ("BOUNDARY" "out") NIL ("fr" "en") NIL)')


async def _selected(operator: Operator, messages: list[bytes]) -> tuple[str, Raw]:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", messages)
    raw = await in_thread(Raw, operator, bob)
    assert (await in_thread(raw.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    return bob, raw


async def test_bodystructure_of_nested_message_is_exact(operator: Operator) -> None:
    _, raw = await _selected(operator, [NESTED])
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1 (BODYSTRUCTURE)")
    assert lines[0] == b"* 1 FETCH (BODYSTRUCTURE " + NESTED_STRUCTURE + b")"
    lines = await in_thread(raw.cmd, b"G", b"FETCH 1 (BODY)")
    assert lines[0].startswith(b'* 1 FETCH (BODY (("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT"'
                               b' "flowed") "<part1@op-a>" "Note" "7BIT" 36 2)("MESSAGE"')
    assert lines[0].endswith(b'("APPLICATION" "PDF" ("NAME" "cr.pdf") NIL NIL "BASE64" 16)'
                             b' "MIXED"))')
    raw.close()


async def test_envelopes_keep_raw_encoded_and_8bit_headers(operator: Operator) -> None:
    _, raw = await _selected(operator, [TEXT, EIGHT_BIT, NESTED])
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1:3 (ENVELOPE)")
    alice = b'(("Dr. Alice Martin" NIL "alice" "op-a.mssante.fr"))'
    assert lines[0] == (
        b'* 1 FETCH (ENVELOPE ("Tue, 5 Mar 2024 10:00:00 +0100" "Compte rendu" '
        + alice + b" " + alice + b" " + alice
        + b' ((NIL NIL "bob" "op-a.mssante.fr") ("Carol" NIL "carol" "op-b.mssante.fr"))'
          b' NIL NIL NIL "<text-1@op-a>"))')
    subject = "Résultats d'analyse".encode()
    helene = (b'(("=?utf-8?q?H=C3=A9l=C3=A8ne_Dupr=C3=A9?=" NIL "helene" "op-a.mssante.fr"))')
    assert lines[1] == (
        b'* 2 FETCH (ENVELOPE ("Wed, 6 Mar 2024 08:15:00 +0000" {%d}\r\n' % len(subject)
        + subject + b" " + helene + b" " + helene + b" " + helene
        + b' (("Service de cardiologie" NIL "cardio" "op-a.mssante.fr"))'
          b' ((NIL NIL "Team" NIL) (NIL NIL "u1" "x.test") ("U 2" NIL "u2" "x.test")'
          b' (NIL NIL NIL NIL)) NIL "<prev@op-a>" "<eight-1@op-a>"))')
    assert lines[2].startswith(b'* 3 FETCH (ENVELOPE ("Thu, 7 Mar 2024 09:00:00 +0100"'
                               b' "Transfert" ((NIL NIL "alice" "op-a.mssante.fr"))')
    lines = await in_thread(raw.cmd, b"B", b"FETCH 2 (BODYSTRUCTURE)")
    eight_body = b"R\xc3\xa9sultat normal.\r\n"
    assert lines[0] == (b'* 2 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL'
                        b' "8BIT" %d 1 NIL NIL NIL NIL))' % len(eight_body))
    raw.close()


async def test_sections_of_nested_message(operator: Operator) -> None:
    _, raw = await _selected(operator, [NESTED])
    html = b"<p>html=20inner</p>"
    cases = {
        b"BODY.PEEK[1]": b"BODY[1] {%d}\r\n" % len(PART1) + PART1,
        b"BODY.PEEK[1.MIME]": b"BODY[1.MIME] {%d}\r\n" % len(PART1_MIME) + PART1_MIME + b")",
        b"BODY.PEEK[2]": b"BODY[2] {%d}\r\n" % len(INNER) + INNER,
        b"BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]":
            b'BODY[2.HEADER.FIELDS (SUBJECT)] {47}\r\n'
            b"Subject: =?iso-8859-1?q?R=E9sultat_inclus?=\r\n\r\n",
        b"BODY.PEEK[2.1]": b"BODY[2.1] {11}\r\nplain inner",
        b"BODY.PEEK[2.2]": b"BODY[2.2] {%d}\r\n" % len(html) + html,
        b"BODY.PEEK[2.2.MIME]": b"BODY[2.2.MIME] {",
        b"BODY.PEEK[3]<0.4>": b"BODY[3]<0> {4}\r\nJVBE",
        b"BODY.PEEK[4]": b"BODY[4] NIL",
        b"BINARY.PEEK[3]": b"BINARY[3] ~{12}\r\n" + base64.b64decode(b"JVBERi0xLjQKAAEC"),
        b"BINARY.SIZE[3]": b"BINARY.SIZE[3] 12",
        b"BINARY.PEEK[2.2]": b"BINARY[2.2] {17}\r\n<p>html inner</p>",
        b"BINARY.PEEK[1]": b"BINARY[1] {%d}\r\n" % len(PART1) + PART1,
    }
    for n, (item, expected) in enumerate(cases.items()):
        lines = await in_thread(raw.cmd, b"T%d" % n, b"FETCH 1 (" + item + b")")
        assert lines[0].startswith(b"* 1 FETCH (" + expected), (item, lines)
        assert lines[-1].startswith(b"T%d OK" % n)
    flags = await in_thread(raw.cmd, b"FL", b"FETCH 1 (FLAGS)")
    assert flags[0] == b"* 1 FETCH (FLAGS (\\Recent))"
    raw.close()


async def test_binary_unknown_encoding_and_undecodable_part(operator: Operator) -> None:
    odd = (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n")
    broken = (b"Content-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64===\r\n")
    _, raw = await _selected(operator, [odd, broken])
    lines = await in_thread(raw.cmd, b"B1", b"FETCH 1 (BINARY.PEEK[1])")
    assert lines[-1] == b"B1 NO [UNKNOWN-CTE] Unknown content transfer encoding"
    lines = await in_thread(raw.cmd, b"B2", b"FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])")
    assert lines[-1] == b"B2 OK FETCH completed"
    assert (await in_thread(raw.cmd, b"N", b"NOOP"))[-1] == b"N OK NOOP completed"
    raw.close()


async def test_meta_fetches_never_decrypt_the_whole_message(operator: Operator,
                                                            monkeypatch) -> None:
    _, raw = await _selected(operator, [NESTED, EIGHT_BIT, TEXT])
    store = operator.running.services.mailbox  # type: ignore[union-attr]
    opened: list[int] = []
    real = store.fetch_messages

    async def spy(bal_id: int, folder_id: int, uids: list[int],
                  octets: int | None = None) -> dict[int, bytes]:
        opened.extend(uids)
        return await real(bal_id, folder_id, uids, octets=octets)

    monkeypatch.setattr(store, "fetch_messages", spy)
    items = (b"(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY RFC822.HEADER"
             b" BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)]"
             b" BODY.PEEK[HEADER.FIELDS.NOT (Received)] BODY.PEEK[HEADER])")
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1:* " + items)
    assert lines[-1] == b"F OK FETCH completed" and len(lines) == 4
    assert (await in_thread(raw.cmd, b"S", b"SEARCH SUBJECT transfert"))[0] == b"* SEARCH 1"
    assert opened == []
    await in_thread(raw.cmd, b"T", b"FETCH 3 (BODY.PEEK[TEXT])")
    assert opened == [3]
    raw.close()


async def test_meta_is_encrypted_and_backfilled_when_missing(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [EIGHT_BIT])
    db = operator.running.services.db  # type: ignore[union-attr]
    async with db.write() as s:
        row = (await s.execute(MessageContent.__table__.select())).one()
        assert b"helene" not in row.meta and "Résultats".encode() not in row.meta
        await s.execute(MessageContent.__table__.update().values(meta=None))
    raw = await in_thread(Raw, operator, bob)
    await in_thread(raw.cmd, b"S", b"EXAMINE INBOX")
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1 (ENVELOPE)")
    assert b'"<eight-1@op-a>"' in lines[0]
    async with db.read() as s:
        assert (await s.execute(MessageContent.__table__.select())).one().meta is not None
    raw.close()


async def test_delivered_messages_carry_their_meta(operator: Operator, monkeypatch) -> None:
    bob = await operator.add_bal("bob")
    services = operator.running.services  # type: ignore[union-attr]
    plan = DeliveryPlan("alice@op-a.mssante.fr", None,
                        local=(LocalCopy(operator.bals[bob].bal_id, NESTED),))
    await services.delivery.commit(plan)

    async def refuse(*_args: object, **_options: object) -> bytes:
        raise AssertionError("the whole message was decrypted")

    monkeypatch.setattr(services.mailbox, "fetch_messages", refuse)
    raw = await in_thread(Raw, operator, bob)
    await in_thread(raw.cmd, b"S", b"EXAMINE INBOX")
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1 (BODYSTRUCTURE ENVELOPE)")
    assert lines[0].startswith(b"* 1 FETCH (BODYSTRUCTURE " + NESTED_STRUCTURE + b" ENVELOPE (")
    raw.close()
