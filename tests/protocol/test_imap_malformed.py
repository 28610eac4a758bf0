"""Malformed commands get BAD or NO and the session answers the next command;
a 2 GB literal is refused before anything is read (on the real server).

Ref: RFC 3501 4.3, 5.1.3, 7.1.3, 9; RFC 7888 4 (literal limits);
RFC 9051 7.1 (TOOBIG).
"""

from __future__ import annotations

import pytest

from tests.protocol.imap_support import Raw, in_thread, numbered, seed
from tests.support import Operator

MALFORMED = [
    # unbalanced parentheses
    b"FETCH 1 (FLAGS", b"FETCH 1 FLAGS)", b"FETCH 1 (FLAGS (UID)", b"STORE 1 +FLAGS (\\Seen",
    b"SEARCH (OR SEEN", b"SEARCH SEEN)", b"STATUS INBOX (MESSAGES", b"ID (\"a\" \"b\"",
    b"FETCH 1 BODY[HEADER.FIELDS (Subject]", b")))", b"(((",
    # bad literals
    b"SELECT {abc}", b"SELECT {5", b"SELECT {-1}", b"SELECT {1e3}",
    b"SELECT {999999999999999999999}", b"LOGIN {3}x",
    # huge numbers and sequence sets
    b"FETCH 100000000000000000000 FLAGS", b"UID FETCH 1:100000000000000000000 FLAGS",
    b"STORE 1:99999999999999999999 +FLAGS (\\Seen)", b"FETCH 4294967296 FLAGS",
    b"COPY 1,100000000000000000000 Trash", b"SEARCH UID 1:100000000000000000000",
    b"FETCH 0 FLAGS", b"FETCH 1:* BODY[1.0]", b"FETCH 1 BODY[]<0.100000000000000000000>",
    # deep nesting
    b"SEARCH " + b"(" * 100 + b"ALL" + b")" * 100,
    b"SEARCH " + b"NOT " * 100 + b"ALL",
    b"FETCH 1 " + b"(" * 100 + b"FLAGS" + b")" * 100,
    # other garbage
    b"FROBNICATE", b"UID FROB 1", b"FETCH", b"FETCH 1", b"APPEND", b"SEARCH CHARSET",
    b"STORE 1 FLAGS (\\Recent)", b"STORE 1 +FLAGS (\\Bogus)", b"SELECT", b"LIST \"\"",
    b"APPEND INBOX (\\Seen) \"31-Feb-2024 00:00:00 +0000\" {1+}\r\nx",
    b"APPEND INBOX \"5-Mar-2024 00:00:00 +0000\" {1+}\r\nx",
]
MUTF7 = [b"SELECT &", b"EXAMINE \"foo&bar\"", b"CREATE &Jjo", b"STATUS & (MESSAGES)",
         b"RENAME INBOX a&b", b"CREATE &AGEAYgBj-", b"SELECT &2D0-", b"DELETE &",
         b"SUBSCRIBE &", b"APPEND & {1+}\r\nx", b"SELECT caf\xc3\xa9"]
NUL = [b"NOOP\x00", b"SELECT IN\x00BOX", b"FETCH 1 (FLAGS\x00)", b"\x00\x00\x00",
       b"SEARCH SUBJECT \"a\x00b\""]


async def _session(operator: Operator) -> Raw:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(1), numbered(2)])
    raw = await in_thread(Raw, operator, bob)
    assert (await in_thread(raw.cmd, b"S", b"SELECT INBOX"))[-1].startswith(b"S OK")
    return raw


async def test_malformed_commands_get_bad_and_the_session_goes_on(operator: Operator) -> None:
    raw = await _session(operator)
    for n, text in enumerate(MALFORMED + NUL):
        tag = b"m%d" % n
        raw.send(tag + b" " + text + b"\r\n")
        first = await in_thread(raw.line)
        assert first.startswith((tag + b" BAD", tag + b" NO", b"* BAD")), (text, first)
        if not first.startswith(tag):
            first = await in_thread(raw.line) if b"\r\n" in text else first
        lines = await in_thread(raw.cmd, b"ok%d" % n, b"NOOP")
        assert lines[-1] == b"ok%d OK NOOP completed" % n, (text, lines)
    lines = await in_thread(raw.cmd, b"F", b"FETCH 1:* (UID)")
    assert lines == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"F OK FETCH completed"]
    raw.close()


async def test_invalid_modified_utf7_names_get_no_or_bad(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    raw = await in_thread(Raw, operator, bob)
    for n, text in enumerate(MUTF7):
        lines = await in_thread(raw.cmd, b"u%d" % n, text)
        assert lines[-1].startswith((b"u%d NO" % n, b"u%d BAD" % n)), (text, lines)
    lines = await in_thread(raw.cmd, b"L", b'LIST "" &')
    assert lines == [b"L OK LIST completed"]
    assert (await in_thread(raw.cmd, b"n", b"NOOP"))[-1] == b"n OK NOOP completed"
    raw.close()


async def test_literal_with_wrong_count_is_bad(operator: Operator) -> None:
    raw = await _session(operator)
    raw.send(b"a SELECT {3}\r\n")
    assert await in_thread(raw.line) == b"+ go ahead"
    raw.send(b"INBOX\r\n")
    assert (await in_thread(raw.line)).startswith(b"a BAD")
    raw.send(b"b SELECT {3}\r\n")
    assert await in_thread(raw.line) == b"+ go ahead"
    raw.send(b"I\x00B\r\n")
    assert (await in_thread(raw.line)).startswith(b"b BAD")
    assert (await in_thread(raw.cmd, b"c", b"NOOP"))[-1] == b"c OK NOOP completed"
    raw.close()


@pytest.mark.parametrize("command", [b"APPEND INBOX {2147483648}",
                                     b"APPEND INBOX (\\Seen) {2147483648}",
                                     b"SELECT {2147483648}", b"LOGIN bob {2147483648}"])
async def test_two_gigabyte_literal_is_refused_before_reading(operator: Operator,
                                                              command: bytes) -> None:
    raw = await _session(operator)
    if command.startswith(b"LOGIN"):
        raw.close()
        raw = await in_thread(Raw, operator)
    raw.send(b"big " + command + b"\r\n")
    answer = await in_thread(raw.line)
    expected = b"big NO [TOOBIG]" if command.startswith(b"APPEND") else b"big BAD [TOOBIG]"
    assert answer.startswith(expected), answer
    assert (await in_thread(raw.cmd, b"n", b"NOOP"))[-1] == b"n OK NOOP completed"
    raw.close()


async def test_non_synchronising_2gb_literal_closes_only_that_session(operator: Operator) -> None:
    raw = await _session(operator)
    other = await in_thread(Raw, operator, "bob@op-a.mssante.fr")
    raw.send(b"big APPEND INBOX {2147483648+}\r\n" + b"x" * 65536)
    lines = [await in_thread(raw.line), await in_thread(raw.line)]
    assert lines[0].startswith(b"big BAD [TOOBIG]") and lines[1].startswith(b"* BYE")
    assert (await in_thread(other.cmd, b"n", b"NOOP"))[-1] == b"n OK NOOP completed"
    raw.close()
    other.close()
