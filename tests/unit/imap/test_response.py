"""Responses render themselves."""

from imap_store.imap.render.response import (
    NIL,
    Atom,
    Continuation,
    FetchData,
    IString,
    Joined,
    ListOf,
    LiteralString,
    Tagged,
    UntaggedData,
    UntaggedStatus,
    code,
    render_value,
)


def test_strings_quoted_or_literal() -> None:
    assert render_value(IString(b'say "hi" \\o/')) == b'"say \\"hi\\" \\\\o/"'
    assert render_value(IString(b"a\r\nb")) == b"{4}\r\na\r\nb"
    assert render_value(IString("é".encode())) == b"{2}\r\n\xc3\xa9"
    assert render_value(IString(b"x" * 2000)).startswith(b"{2000}\r\n")
    assert render_value(LiteralString(b"abc")) == b"{3}\r\nabc"
    assert render_value(LiteralString(b"")) == b'""'


def test_lists_nil_numbers_joined() -> None:
    value = ListOf((Atom("\\Seen"), NIL, 42, ListOf(()), Joined((ListOf((1,)), ListOf((2,))))))
    assert render_value(value) == b"(\\Seen NIL 42 () (1)(2))"


def test_status_responses() -> None:
    assert Tagged("a1", "OK", "done", code("READ-WRITE")).render() == b"a1 OK [READ-WRITE] done\r\n"
    assert UntaggedStatus("BYE", "bye\r\nnow").render() == b"* BYE bye  now\r\n"
    assert UntaggedStatus("OK", "x", code("UIDVALIDITY", 7)).render() == (
        b"* OK [UIDVALIDITY 7] x\r\n")
    assert Continuation().render() == b"+ \r\n"
    assert Continuation("go ahead").render() == b"+ go ahead\r\n"


def test_data_responses() -> None:
    assert UntaggedData("EXISTS", number=3).render() == b"* 3 EXISTS\r\n"
    assert UntaggedData("SEARCH", (1, 2)).render() == b"* SEARCH 1 2\r\n"
    assert UntaggedData("SEARCH").render() == b"* SEARCH\r\n"
    fetch = FetchData(2, (("UID", 9), ("BODY[]", LiteralString(b"hi"))))
    assert fetch.render() == b"* 2 FETCH (UID 9 BODY[] {2}\r\nhi)\r\n"
