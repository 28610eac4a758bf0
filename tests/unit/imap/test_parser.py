"""Parser tables: good commands parse to values, malformed ones to ParseError."""

import contextlib
import datetime as dt

import pytest

from imap_store.imap.errors import ParseError
from imap_store.imap.parse import parser
from imap_store.imap.parse.command import (
    AuthenticateArgs,
    Command,
    FetchArgs,
    IdArgs,
    ListArgs,
    LoginArgs,
    MailboxArgs,
    SearchArgs,
    SequenceArgs,
    StoreArgs,
)
from imap_store.imap.parse.fetch_spec import FetchAttribute, Partial, Section
from imap_store.imap.parse.parser import RawCommand, parse_command, parse_line
from imap_store.imap.parse.search_keys import (
    AndKey,
    DateKey,
    FlagKey,
    HeaderKey,
    NotKey,
    OrKey,
    SeqKey,
    SizeKey,
    UidKey,
)
from imap_store.imap.parse.sequence import SeqRange, SequenceSet


def seq(*ranges: tuple[int | None, int | None]) -> SequenceSet:
    return SequenceSet(tuple(SeqRange(a, b) for a, b in ranges))


GOOD = [
    (b"a1 CAPABILITY", "CAPABILITY", None),
    (b"a1 noop", "NOOP", None),
    (b"x LOGIN alice \"p a\\\\ss\\\"\"", "LOGIN", LoginArgs("alice", 'p a\\ss"')),
    (b"x AUTHENTICATE plain", "AUTHENTICATE", AuthenticateArgs("PLAIN")),
    (b"x AUTHENTICATE PLAIN AGEAYg==", "AUTHENTICATE", AuthenticateArgs("PLAIN", b"AGEAYg==")),
    (b"x AUTHENTICATE PLAIN =", "AUTHENTICATE", AuthenticateArgs("PLAIN", b"=")),
    (b"x SELECT inbox", "SELECT", MailboxArgs("INBOX")),
    (b"x EXAMINE \"Archives/2023\"", "EXAMINE", MailboxArgs("Archives/2023")),
    (b"x SELECT Donn&AOk-es", "SELECT", MailboxArgs("Données")),
    (b"x SELECT &ZeVnLIqe-", "SELECT", MailboxArgs("日本語")),
    (b"x SELECT a&-b", "SELECT", MailboxArgs("a&b")),
    (b"x LIST \"\" *", "LIST", ListArgs("", "*")),
    (b"x LSUB \"Archives/\" %", "LSUB", ListArgs("Archives/", "%")),
    (b"x UID EXPUNGE 3:5,7", "EXPUNGE", SequenceArgs(seq((3, 5), (7, 7)))),
    (b"x ID NIL", "ID", IdArgs(None)),
    (b"x ID (\"name\" \"mutt\" \"os\" NIL)", "ID", IdArgs((("name", "mutt"), ("os", None)))),
    (b"x STORE 1:* +FLAGS.SILENT (\\deleted $Junk)", "STORE",
     StoreArgs(seq((1, None)), "add", True, frozenset({"\\Deleted", "$Junk"}))),
    (b"x STORE 2 -FLAGS \\Seen", "STORE", StoreArgs(seq((2, 2)), "remove", False,
                                                     frozenset({"\\Seen"}))),
    (b"x STORE 2 FLAGS ()", "STORE", StoreArgs(seq((2, 2)), "replace", False, frozenset())),
    (b"x STORE 4294967295 FLAGS ()", "STORE",
     StoreArgs(seq((4294967295, 4294967295)), "replace", False, frozenset())),
]


@pytest.mark.parametrize(("line", "name", "args"), GOOD)
def test_good_commands(line: bytes, name: str, args: object) -> None:
    command = parse_line(line)
    assert command.name == name
    if args is not None:
        assert command.args == args


def test_uid_prefix_and_tag() -> None:
    command = parse_line(b"A003 UID FETCH 1:* FLAGS")
    assert (command.tag, command.name, command.uid, command.key) == (
        "A003", "FETCH", True, "UID FETCH")


def test_fetch_attributes_sections_and_partials() -> None:
    command = parse_line(
        b"a FETCH 1,3:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject \"From\")]<0.100>"
        b" BODY[1.2.MIME] BODY[] RFC822.HEADER BODY[2.TEXT] BODY[3])")
    args = command.args
    assert isinstance(args, FetchArgs)
    assert args.sequence == seq((1, 1), (3, None))
    assert args.attributes == (
        FetchAttribute("FLAGS"),
        FetchAttribute("BODY", Section((), "HEADER.FIELDS", ("Subject", "From")),
                       Partial(0, 100), peek=True),
        FetchAttribute("BODY", Section((1, 2), "MIME")),
        FetchAttribute("BODY", Section()),
        FetchAttribute("RFC822.HEADER"),
        FetchAttribute("BODY", Section((2,), "TEXT")),
        FetchAttribute("BODY", Section((3,))),
    )
    assert args.attributes[1].response_name == "BODY[HEADER.FIELDS (Subject From)]<0>"


@pytest.mark.parametrize(("macro", "count"), [(b"ALL", 4), (b"fast", 3), (b"FULL", 5)])
def test_fetch_macros(macro: bytes, count: int) -> None:
    args = parse_line(b"a FETCH 1 " + macro).args
    assert isinstance(args, FetchArgs) and len(args.attributes) == count


def test_search_keys() -> None:
    args = parse_line(
        b"a SEARCH CHARSET UTF-8 UNSEEN NOT DELETED OR FLAGGED NEW SINCE 1-Feb-2024"
        b" BEFORE \"15-Mar-2024\" UID 1:10 2,4 LARGER 100 (SUBJECT \"hello world\")").args
    assert isinstance(args, SearchArgs)
    assert args.charset == "UTF-8"
    keys = args.criteria
    assert isinstance(keys, AndKey)
    assert keys.keys[0] == FlagKey("\\Seen", False)
    assert keys.keys[1] == NotKey(FlagKey("\\Deleted"))
    assert isinstance(keys.keys[2], OrKey)
    assert keys.keys[3] == DateKey("internal", "since", dt.date(2024, 2, 1))
    assert keys.keys[4] == DateKey("internal", "before", dt.date(2024, 3, 15))
    assert keys.keys[5] == UidKey(seq((1, 10)))
    assert keys.keys[6] == SeqKey(seq((2, 2), (4, 4)))
    assert keys.keys[7] == SizeKey("larger", 100)
    assert keys.keys[8] == AndKey((HeaderKey("subject", "hello world"),))


def test_literals_across_lines() -> None:
    raw = RawCommand((b"a LOGIN {5}", b" {6+}", b""), (b"alice", b"se\"cr\\"))
    assert parse_command(raw).args == LoginArgs("alice", 'se"cr\\')


BAD = [
    (b"a NOOP (", "a"),
    (b"a FETCH 1 (FLAGS", "a"),
    (b"a FETCH 1 (FLAGS))", "a"),
    (b"a SEARCH (SEEN", "a"),
    (b"a SELECT caf\xc3\xa9", "a"),
    (b"a FETCH 100000000000000000000 FLAGS", "a"),
    (b"a FETCH 4294967296 FLAGS", "a"),
    (b"a FETCH 0 FLAGS", "a"),
    (b"a FETCH 1:0 FLAGS", "a"),
    (b"a FETCH 1 " + b"(" * 100 + b"FLAGS" + b")" * 100, "a"),
    (b"a SEARCH " + b"(" * 100 + b"ALL" + b")" * 100, "a"),
    (b"a SEARCH" + b" NOT" * 100 + b" ALL", "a"),
    (b"a SEARCH FOO", "a"),
    (b"a SEARCH SINCE 32-Jan-2024", "a"),
    (b"a SEARCH SINCE 1-Foo-2024", "a"),
    (b"a SEARCH", "a"),
    (b"a FETCH 1 BODY[HEADER.FIELDS ()]", "a"),
    (b"a FETCH 1 BODY[MIME]", "a"),
    (b"a FETCH 1 BODY[1.]", "a"),
    (b"a FETCH 1 BODY[]<5>", "a"),
    (b"a FETCH 1 FOO", "a"),
    (b"a STORE 1 +FLAGS (\\Recent)", "a"),
    (b"a STORE 1 +FLAGS (\\Bogus)", "a"),
    (b"a STORE 1 XFLAGS (\\Seen)", "a"),
    (b"a LOGIN \"unterminated", "a"),
    (b"a LOGIN \"bad\\escape\" x", "a"),
    (b"a LOGIN alice", "a"),
    (b"a BLURDYBLOOP", "a"),
    (b"a UID NOOP", "a"),
    (b"a NOOP extra", "a"),
    (b"a ENABLE", "a"),
    (b"a\x00 NOOP", "a"),
    (b"a NOOP\x00", "a"),
    (b"a LOGIN a\x00b c", "a"),
    (b"* NOOP", None),
    (b"+ NOOP", None),
    (b"(a) NOOP", None),
    (b"", None),
    (b"   ", None),
]


@pytest.mark.parametrize(("line", "tag"), BAD)
def test_malformed_commands(line: bytes, tag: str | None) -> None:
    with pytest.raises(ParseError) as info:
        parse_line(line)
    assert info.value.tag == tag
    rendered = info.value.render_response().render()
    assert rendered.startswith((tag or "*").encode() + b" BAD ")
    assert rendered.endswith(b"\r\n") and rendered.count(b"\r\n") == 1


def test_nul_in_literal_is_bad() -> None:
    raw = RawCommand((b"a LOGIN {3}", b" x"), (b"a\x00b",))
    with pytest.raises(ParseError) as info:
        parse_command(raw)
    assert info.value.tag == "a"


def test_literal_where_marker_is_not_last() -> None:
    raw = RawCommand((b"a LOGIN {3} {3}", b""), (b"abc",))
    with pytest.raises(ParseError):
        parse_command(raw)


def test_nesting_limit_is_configurable() -> None:
    line = b"a SEARCH " + b"(" * 5 + b"ALL" + b")" * 5
    parse_line(line, max_depth=5)
    with pytest.raises(ParseError):
        parse_line(line, max_depth=4)


def test_invalid_modified_utf7_names_no_folder() -> None:
    for line in (b"a SELECT &", b"a SELECT &AGE", b"a SELECT &AEE-", b"a SELECT &Jjo!-",
                 b"a CREATE foo&bar"):
        args = parse_line(line).args
        assert isinstance(args, MailboxArgs) and args.mailbox.startswith("\x00"), line


def _uncached(line: bytes, monkeypatch: pytest.MonkeyPatch) -> Command | ParseError:
    with monkeypatch.context() as m:
        m.setattr(parser, "CACHED_LINE_MAX", -1)  # every line through the cursor path
        try:
            return parse_line(line)
        except ParseError as exc:
            return exc


@pytest.mark.parametrize("line", [g[0] for g in GOOD] + [b[0] for b in BAD])
def test_a_cached_parse_is_the_parse_itself(line: bytes,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _uncached(line, monkeypatch)
    for _ in range(2):  # the second one from the cache when the line is cached
        try:
            got: Command | ParseError = parse_line(line)
        except ParseError as exc:
            got = exc
        assert type(got) is type(expected)
        if isinstance(got, ParseError):
            assert isinstance(expected, ParseError)
            assert (got.tag, got.render_response().render()) == (
                expected.tag, expected.render_response().render())
        else:
            assert got == expected


def test_the_cache_keeps_no_tag_and_no_secret() -> None:
    parser._after_tag.cache_clear()
    first = parse_line(b"t1 FETCH 1:5 (UID FLAGS)")
    second = parse_line(b"t2 FETCH 1:5 (UID FLAGS)")
    assert (first.tag, second.tag) == ("t1", "t2") and first.args == second.args
    assert parser._after_tag.cache_info().hits == 1
    for line in (b"a LOGIN alice s3cret", b"a AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldA==",
                 b"a APPEND INBOX (\\Seen) hello"):
        with contextlib.suppress(ParseError):
            parse_line(line)
    assert parser._after_tag.cache_info().currsize == 1
