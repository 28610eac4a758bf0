"""Seeded fuzzing: any byte line parses to a Command or raises ParseError only."""

import random

from imap_store.imap.errors import ParseError
from imap_store.imap.limits import ImapLimits
from imap_store.imap.parse.framer import CommandReader, CommandReady, ContinuationNeeded, Rejected
from imap_store.imap.parse.parser import parse_command, parse_line

SEEDS = [
    b"a FETCH 1:*,3 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.10> UID)",
    b"a UID SEARCH CHARSET UTF-8 OR (SEEN UID 1:4) NOT SINCE 1-Jan-2024 HEADER X \"y\"",
    b"a STORE 1 +FLAGS.SILENT (\\Seen $k)",
    b"a LIST \"\" \"Donn&AOk-es/*\"",
    b"a LOGIN \"us\\\"er\" pass",
    b"a ID (\"k\" \"v\" \"x\" NIL)",
    b"a AUTHENTICATE PLAIN AGEAYg==",
]
ALPHABET = b" ()[]<>{}*%\\\"&-+.:,0123456789AZaz\x00\x7f\xff\r\n~"


def mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data) + 1)
        op = rng.random()
        if op < 0.4 and data:
            del data[min(pos, len(data) - 1)]
        elif op < 0.8:
            data.insert(pos, rng.choice(ALPHABET))
        else:
            data[pos:pos] = data[: rng.randint(0, 8)]
    return bytes(data)


def test_mutated_lines_only_raise_parse_error() -> None:
    rng = random.Random(3501)
    for _ in range(20_000):
        line = mutate(rng, rng.choice(SEEDS)).replace(b"\r", b"").replace(b"\n", b"")
        try:
            parse_line(line)
        except ParseError:
            pass


def test_random_streams_through_framer_and_parser() -> None:
    rng = random.Random(9051)
    for _ in range(2_000):
        reader = CommandReader(ImapLimits(max_line=200, max_literal=50, max_preauth_literal=50))
        stream = b"\r\n".join(mutate(rng, rng.choice(SEEDS)) for _ in range(5)) + b"\r\n"
        reader.feed(stream)
        while (event := reader.next_event()) is not None:
            assert isinstance(event, CommandReady | ContinuationNeeded | Rejected)
            if isinstance(event, CommandReady):
                try:
                    parse_command(event.raw)
                except ParseError:
                    pass
