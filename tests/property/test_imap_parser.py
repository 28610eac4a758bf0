"""Properties of the IMAP command parser (`imap_store/imap/parse/`).

Any byte stream, framed by `CommandReader` and parsed by `parse_command`,
gives framing events and then a `Command` or a `ParseError` that renders a
BAD line: never another exception. Framing does not depend on how the bytes
are cut into reads. Where a value is written and read back (modified UTF-7,
strings, FETCH sections, dates, sequence sets), the round trip holds.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import assume, example, given
from hypothesis import strategies as st

from imap_store.imap.errors import ParseError
from imap_store.imap.limits import ImapLimits
from imap_store.imap.parse import mutf7
from imap_store.imap.parse.command import AppendArgs, FetchArgs, SearchArgs
from imap_store.imap.parse.cursor import Cursor
from imap_store.imap.parse.framer import (
    CommandReader,
    CommandReady,
    ContinuationNeeded,
    RawCommand,
    Rejected,
)
from imap_store.imap.parse.grammar import GRAMMAR, UID_GRAMMAR
from imap_store.imap.parse.parser import parse_command
from imap_store.imap.parse.search_keys import MONTHS, DateKey
from imap_store.imap.parse.sequence import parse_sequence_set
from imap_store.imap.render.response import Tagged, UntaggedStatus, istring, render_value

LIMITS = ImapLimits(max_line=300, max_literal=60, max_preauth_literal=60, max_command=200)
NAMES = sorted(GRAMMAR) + ["UID " + name for name in sorted(UID_GRAMMAR)]

# Pieces of IMAP syntax, so that generated lines reach deep into the grammar.
_TOKENS = st.sampled_from([
    " ", "(", ")", "[", "]", "<", ">", "{", "}", "*", "%", "\\", '"', "&", "-", "+", ".", ":",
    ",", "~", "0", "1", "7", "4294967295", "4294967296", "99999999999", "NIL", "INBOX",
    "&AOk-", "&-", "&Jjo", "BODY", "BODY.PEEK", "BINARY", "BINARY.SIZE", "HEADER",
    "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME", "FLAGS", "+FLAGS.SILENT", "\\Seen",
    "\\Recent", "\\Foo", "ALL", "FAST", "FULL", "ENVELOPE", "UID", "OR", "NOT", "SINCE",
    "SENTON", "LARGER", "HEADER", "KEYWORD", "CHARSET", "UTF-8", "US-ASCII", "1-Jan-2024",
    "31-Feb-2024", "\"17-Jul-1996 02:44:25 -0700\"", "\" 1-Jan-0001 00:00:00 +9999\"",
    "MESSAGES", "UNSEEN", "PLAIN", "AGEAYg==", "=", "1:*", "*:1", "0:5", "{0}", "{5}",
    "{5+}", "~{3}", "{999}", "\x00", "\x7f", "\xff", "é",
]).map(lambda s: s.encode("utf-8", "surrogateescape") if s != "\xff" else b"\xff")


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    """One command line: a tag, a command name, then pieces of syntax or raw bytes."""
    tag = draw(st.sampled_from([b"a", b"A001", b"*", b"+", b"", b"t\x00", b"x" * 70]))
    name = draw(st.sampled_from(NAMES)).encode("ascii")
    if draw(st.booleans()):
        name = name.lower()
    pieces = draw(st.lists(_TOKENS | st.binary(max_size=6), max_size=24))
    glue = draw(st.sampled_from([b" ", b""]))  # arguments apart, or run together
    return tag + b" " + name + b" " + glue.join(pieces)


def _with_literals(line: bytes) -> bytes:
    """Follow every literal marker that ends a line with that many octets."""
    out = bytearray(line)
    if line.endswith(b"}") and b"{" in line:
        size = line[line.rindex(b"{") + 1 : -1].rstrip(b"+")
        if size.isdigit() and int(size) <= 80:
            out += b"\r\n" + b"x" * int(size) + b" NIL"
    return bytes(out) + b"\r\n"


streams = st.one_of(
    st.binary(max_size=400),
    st.lists(command_lines().map(_with_literals), min_size=1, max_size=5).map(b"".join),
)


def _frame(stream: bytes, cuts: list[int]) -> list[object]:
    """Feed `stream` cut at `cuts`; the events, with parse results for complete commands."""
    reader = CommandReader(LIMITS)
    events: list[object] = []
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for start, end in zip(bounds, bounds[1:], strict=False):
        reader.feed(stream[start:end])
        while (event := reader.next_event()) is not None:
            assert isinstance(event, CommandReady | ContinuationNeeded | Rejected)
            events.append(event)
            if isinstance(event, Rejected):
                assert event.response.render().endswith(b"\r\n")
    return events


def _parse(raw: RawCommand) -> object:
    try:
        return parse_command(raw, LIMITS.max_depth)
    except ParseError as exc:
        response = exc.render_response()
        assert isinstance(response, Tagged | UntaggedStatus)
        line = response.render()
        assert line.endswith(b"\r\n") and b"BAD" in line
        return ("BAD", line)


@given(streams, st.lists(st.integers(min_value=0, max_value=500), max_size=8))
@example(b"a FETCH 1 (BODY[1.2.HEADER.FIELDS (A B)]<0.10>)\r\n", [5])
@example(b"a APPEND INBOX (\\Seen) \" 1-Jan-2024 00:00:00 +0000\" ~{3}\r\nx\x00y\r\n", [])
@example(b"a SEARCH " + b"NOT " * 40 + b"ALL\r\n", [])
@example(b"a LOGIN {5}\r\nab", [])
def test_any_stream_frames_and_parses_or_is_bad(stream: bytes, cuts: list[int]) -> None:
    for event in _frame(stream, cuts):
        if isinstance(event, CommandReady):
            _parse(event.raw)


@given(streams, st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=8))
def test_framing_does_not_depend_on_read_boundaries(stream: bytes, cuts: list[int]) -> None:
    assert _frame(stream, cuts) == _frame(stream, [])


@given(st.text(max_size=40))
@example("Données/été")
@example("&")
@example("\U0001f600")
def test_mutf7_round_trip(name: str) -> None:
    wire = mutf7.encode(name)
    assert all(0x20 <= byte <= 0x7E for byte in wire)
    assert mutf7.decode(wire) == name


@given(st.binary(max_size=40) | st.text(alphabet="&-+,AOkBz/ é", max_size=20).map(str.encode))
def test_mutf7_decode_is_strict_and_stable(wire: bytes) -> None:
    try:
        name = mutf7.decode(wire)
    except ValueError:
        return
    assert mutf7.decode(mutf7.encode(name)) == name


def _read_astring(line: bytes, literal: bytes | None = None) -> bytes:
    reader = CommandReader(LIMITS)
    reader.feed(b"a " + line + b"\r\n" + (literal + b"\r\n" if literal is not None else b""))
    events = []
    while (event := reader.next_event()) is not None:
        events.append(event)
    ready = [e for e in events if isinstance(e, CommandReady)]
    assert len(ready) == 1
    cursor = Cursor(ready[0].raw)
    cursor.tag()
    cursor.sp()
    value = cursor.astring()
    assert cursor.at_end()
    return value


@given(st.binary(max_size=50).filter(lambda b: 0 not in b))
@example(b'a"b\\c')
@example(b"")
@example(b"line\r\nbreak")
def test_rendered_string_reads_back(data: bytes) -> None:
    rendered = render_value(istring(data))
    if rendered.startswith(b"{"):
        marker, _, body = rendered.partition(b"\r\n")
        assert _read_astring(marker, body) == data
    else:
        assert _read_astring(rendered) == data


_SECTION_TEXTS = st.sampled_from([None, "HEADER", "TEXT", "MIME", "HEADER.FIELDS",
                                  "HEADER.FIELDS.NOT"])
_FIELD_NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                     blacklist_characters=":"), min_size=1, max_size=12)


@given(st.lists(st.integers(min_value=1, max_value=2**32 - 1), max_size=4), _SECTION_TEXTS,
       st.lists(_FIELD_NAMES, min_size=1, max_size=3), st.booleans(),
       st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1)) | st.none())
def test_fetch_section_renders_and_reads_back(part: list[int], text: str | None,
                                               fields: list[str], peek: bool,
                                               partial: tuple[int, int] | None) -> None:
    assume(text != "MIME" or part)
    spec = ".".join([*map(str, part), *([text] if text else [])])
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        quoted = [b'"' + f.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
                  for f in fields]
        spec_bytes = spec.encode() + b" (" + b" ".join(quoted) + b")"
    else:
        spec_bytes = spec.encode()
    item = b"BODY.PEEK[" if peek else b"BODY["
    tail = b"<%d.%d>" % partial if partial else b""
    command = parse_command(RawCommand((b"a FETCH 1 " + item + spec_bytes + b"]" + tail,)))
    assert isinstance(command.args, FetchArgs)
    (attribute,) = command.args.attributes
    assert attribute.section is not None and attribute.peek == peek
    assert attribute.section.part == tuple(part)
    assert attribute.section.text == text
    again = parse_command(RawCommand(
        (b"a FETCH 1 BODY[" + attribute.section.render().encode() + b"]",)))
    assert isinstance(again.args, FetchArgs)
    assert again.args.attributes[0].section == attribute.section


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_search_date_reads_back(day: dt.date) -> None:
    text = f"{day.day}-{MONTHS[day.month - 1].title()}-{day.year:04d}"
    command = parse_command(RawCommand((b"a SEARCH SINCE " + text.encode(),)))
    assert isinstance(command.args, SearchArgs)
    assert command.args.criteria == DateKey("internal", "since", day)


@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
       st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
def test_append_date_time_reads_back(when: dt.datetime, offset: int) -> None:
    when = when.replace(microsecond=0)
    sign = "-" if offset < 0 else "+"
    zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    text = f"{when.day:2d}-{MONTHS[when.month - 1].title()}-{when.year:04d} " \
           f"{when:%H:%M:%S} {zone}"
    raw = RawCommand((b'a APPEND INBOX "' + text.encode() + b'" {1}', b""), (b"x",))
    command = parse_command(raw)
    assert isinstance(command.args, AppendArgs)
    parsed = command.args.messages[0].internaldate
    assert parsed is not None
    assert parsed.replace(tzinfo=None) == when
    assert parsed.utcoffset() == dt.timedelta(minutes=offset)


_SEQ_NUMBER = st.integers(min_value=1, max_value=2**32 - 1) | st.none()


@given(st.lists(st.tuples(_SEQ_NUMBER, _SEQ_NUMBER), min_size=1, max_size=5),
       st.integers(min_value=0, max_value=60),
       st.lists(st.integers(min_value=1, max_value=100), max_size=20, unique=True))
def test_sequence_set_reads_back_and_selects_consistently(
        ranges: list[tuple[int | None, int | None]], count: int, uids: list[int]) -> None:
    def number(n: int | None) -> str:
        return "*" if n is None else str(n)

    text = ",".join(number(a) if a == b else f"{number(a)}:{number(b)}" for a, b in ranges)
    cursor = Cursor(RawCommand((text.encode(),)))
    sequence = parse_sequence_set(cursor)
    assert cursor.at_end()
    assert [(r.first, r.last) for r in sequence.ranges] == ranges
    assert sequence.select_msns(count) == [
        n for n in range(1, count + 1) if sequence.contains(n, count)]
    uids.sort()
    if uids:
        assert sequence.select_uids(uids) == [u for u in uids if sequence.contains(u, uids[-1])]
