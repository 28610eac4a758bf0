"""Grammar of APPEND (MULTIAPPEND, literal8, date-time), STATUS, COPY, MOVE,
RENAME, CREATE and friends: values out, ParseError (BAD) for anything else."""

import datetime as dt

import pytest

from imap_store.imap.errors import ParseError
from imap_store.imap.parse.command import AppendArgs, CopyArgs, MailboxArgs, RenameArgs, StatusArgs
from imap_store.imap.parse.parser import RawCommand, parse_command, parse_line


def append(head: bytes, *parts: tuple[bytes, bytes]) -> AppendArgs:
    lines = [head + parts[0][0]]
    for marker, _ in parts[1:]:
        lines.append(marker)
    lines.append(b"")
    args = parse_command(RawCommand(tuple(lines), tuple(p[1] for p in parts))).args
    assert isinstance(args, AppendArgs)
    return args


def test_append_with_flags_date_and_multiappend() -> None:
    args = append(b'a APPEND "Sent" (\\Seen $Dossier) " 5-Mar-2024 10:00:00 -0130" ',
                  (b"{3}", b"one"), (b" (\\Draft) {3+}", b"two"), (b" ~{3}", b"t\x00o"))
    assert args.mailbox == "Sent"
    first, second, third = args.messages
    assert first.flags == {"\\Seen", "$Dossier"} and first.data == b"one"
    assert first.internaldate == dt.datetime(2024, 3, 5, 10, 0, tzinfo=dt.timezone(
        -dt.timedelta(hours=1, minutes=30)))
    assert second.flags == {"\\Draft"} and second.internaldate is None
    assert third.data == b"t\x00o"


@pytest.mark.parametrize("date", [b'"5-Mar-2024 10:00:00 +0000"', b'"05-Mars-2024 10:00:00 +0000"',
                                  b'"31-Feb-2024 10:00:00 +0000"', b'"05-Mar-2024 25:00:00 +0000"',
                                  b'"05-Mar-2024 10:00:00 0000"', b'"05-Mar-2024 10:00:00 +0000" '])
def test_append_refuses_bad_dates(date: bytes) -> None:
    with pytest.raises(ParseError):
        append(b"a APPEND INBOX " + date + b" ", (b"{1}", b"x"))


@pytest.mark.parametrize("line", [b"a APPEND INBOX", b"a APPEND INBOX (\\Recent) {1}",
                                  b"a APPEND INBOX (\\Seen)", b"a APPEND caf\xc3\xa9 {1}"])
def test_append_refuses_bad_shapes(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse_command(RawCommand((line, b""), (b"x",)) if line.endswith(b"}") else
                      RawCommand((line,)))


def test_append_nul_only_in_literal8() -> None:
    with pytest.raises(ParseError):
        append(b"a APPEND INBOX ", (b"{3}", b"a\x00b"))


def test_status_rename_copy_move_create() -> None:
    status = parse_line(b"a STATUS inbox (MESSAGES UNSEEN messages)").args
    assert status == StatusArgs("INBOX", ("MESSAGES", "UNSEEN"))
    assert parse_line(b"a RENAME \"Old\" R&AOk-sultats").args == RenameArgs("Old", "Résultats")
    copy = parse_line(b"a UID COPY 1:3,7 Trash")
    assert copy.uid and isinstance(copy.args, CopyArgs) and copy.args.mailbox == "Trash"
    move = parse_line(b"a MOVE * Junk")
    assert move.name == "MOVE" and not move.uid
    assert parse_line(b"a UID MOVE 1 Junk").key == "UID MOVE"
    for verb in (b"CREATE", b"DELETE", b"SUBSCRIBE", b"UNSUBSCRIBE"):
        assert parse_line(b"a " + verb + b" Projets/2024").args == MailboxArgs("Projets/2024")


@pytest.mark.parametrize("line", [b"a STATUS INBOX ()", b"a STATUS INBOX (HIGHESTMODSEQ)",
                                  b"a STATUS INBOX MESSAGES", b"a RENAME a", b"a COPY 1",
                                  b"a MOVE 1:x Junk", b"a CREATE", b"a DELETE \"a\tb\"",
                                  b"a UID COPY 1 a b"])
def test_bad_mailbox_commands(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse_line(line)
