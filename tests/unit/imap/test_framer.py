"""Framing: literals, LITERAL+, limits checked before the continuation."""

from imap_store.imap.limits import ImapLimits
from imap_store.imap.parse.framer import (
    CommandReader,
    CommandReady,
    ContinuationNeeded,
    RawCommand,
    Rejected,
)


def reader(**kw: int) -> CommandReader:
    return CommandReader(ImapLimits(**kw))


def test_simple_lines_and_pipelining() -> None:
    r = reader()
    r.feed(b"a NOOP\r\nb CAPA")
    assert r.next_event() == CommandReady(RawCommand((b"a NOOP",)))
    assert r.next_event() is None
    r.feed(b"BILITY\nc")
    assert r.next_event() == CommandReady(RawCommand((b"b CAPABILITY",)))
    assert r.next_event() is None
    assert r.buffered == 1


def test_synchronising_literal_asks_for_continuation() -> None:
    r = reader()
    r.feed(b"a LOGIN {5}\r\n")
    assert r.next_event() == ContinuationNeeded()
    assert r.next_event() is None
    r.feed(b"alice {6}\r\n")
    assert r.next_event() == ContinuationNeeded()
    r.feed(b"secret\r\n")
    event = r.next_event()
    assert event == CommandReady(
        RawCommand((b"a LOGIN {5}", b" {6}", b""), (b"alice", b"secret")))


def test_non_synchronising_literal_needs_no_continuation() -> None:
    r = reader()
    r.feed(b"a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n")
    assert r.next_event() == CommandReady(
        RawCommand((b"a LOGIN {5+}", b" {6+}", b""), (b"alice", b"secret")))


def test_literal_with_crlf_inside() -> None:
    r = reader()
    r.feed(b"a X {4+}\r\n\r\n\r\n rest\r\n")
    event = r.next_event()
    assert isinstance(event, CommandReady)
    assert event.raw.literals == (b"\r\n\r\n",)


def test_oversized_sync_literal_is_refused_before_continuation() -> None:
    r = reader(max_literal=10, max_command=10)
    r.feed(b"t1 LOGIN {11}\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected) and not event.fatal
    assert event.response.render() == b"t1 BAD [TOOBIG] Literal too large\r\n"
    r.feed(b"t2 NOOP\r\n")
    assert r.next_event() == CommandReady(RawCommand((b"t2 NOOP",)))


def test_oversized_append_literal_is_no_toobig() -> None:
    r = reader(max_literal=10, max_command=10)
    r.feed(b"t1 APPEND INBOX {99999999999}\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected)
    assert event.response.render().startswith(b"t1 NO [TOOBIG]")


def test_oversized_non_sync_literal_is_fatal() -> None:
    r = reader(max_literal=10, max_command=10)
    r.feed(b"t1 LOGIN {11+}\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected) and event.fatal


def test_command_size_counts_all_literals() -> None:
    r = reader(max_literal=10, max_command=15)
    r.feed(b"a X {8+}\r\n12345678 {8}\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected)


def test_overlong_line_is_discarded_then_bad() -> None:
    r = reader(max_line=100)
    r.feed(b"tag1 NOOP " + b"x" * 150)
    assert r.next_event() is None
    assert r.buffered < 100
    r.feed(b"y" * 500)
    assert r.next_event() is None
    r.feed(b"\r\nz NOOP\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected) and not event.fatal
    assert event.response.render() == b"tag1 BAD [TOOBIG] Line too long\r\n"
    assert r.next_event() == CommandReady(RawCommand((b"z NOOP",)))


def test_overlong_line_in_one_chunk() -> None:
    r = reader(max_line=100)
    r.feed(b"t " + b"x" * 200 + b"\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected)


def test_overlong_line_ending_with_non_sync_literal_is_fatal() -> None:
    r = reader(max_line=100)
    r.feed(b"t " + b"x" * 200 + b" {5+}\r\n")
    event = r.next_event()
    assert isinstance(event, Rejected) and event.fatal


def test_huge_literal_size_number() -> None:
    r = reader()
    r.feed(b"a LOGIN {99999999999999999999}\r\n")
    assert isinstance(r.next_event(), Rejected)


def test_discard_buffered_drops_pipelined_input() -> None:
    r = reader()
    r.feed(b"a STARTTLS\r\nb LOGIN x y\r\n")
    assert isinstance(r.next_event(), CommandReady)
    assert r.discard_buffered() == len(b"b LOGIN x y\r\n")
    assert r.next_event() is None


def test_next_line_for_continuations() -> None:
    r = reader()
    r.feed(b"AGFsaWNlAHNlY3JldA==\r\nDONE\r\n")
    assert r.next_line() == b"AGFsaWNlAHNlY3JldA=="
    assert r.next_line() == b"DONE"
    assert r.next_line() is None


def test_literal_limit_is_adjustable_per_state() -> None:
    r = reader(max_preauth_literal=4)
    r.literal_limit = 4
    r.feed(b"a LOGIN {5}\r\n")
    assert isinstance(r.next_event(), Rejected)
    r.literal_limit = 10
    r.feed(b"b LOGIN {5}\r\n")
    assert r.next_event() == ContinuationNeeded()
