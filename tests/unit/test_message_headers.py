"""The one header parser (`message.headers`): header end, fields, unfolding, byte-exactness."""

from __future__ import annotations

import pytest

from message.headers import (
    field_value,
    first_text,
    first_value,
    header_fields,
    split_header,
    values_of,
)
from message.mime_tree import parse_message, parse_part

MESSAGE = (b"From: Dr X <dr.x@op-a.mssante.fr>\r\n"
           b"Subject: a folded\r\n \tsubject  line\r\n"
           b"X-Empty:\r\n"
           b"Content-Type: multipart/mixed;\r\n boundary=\"a  b\"\r\n"
           b"\r\n"
           b"body\r\nFrom: not a header\r\n")


@pytest.mark.parametrize(
    ("data", "header", "body"),
    [
        (MESSAGE, MESSAGE[: MESSAGE.index(b"\r\n\r\n") + 4], b"body\r\nFrom: not a header\r\n"),
        (b"A: 1\n\nbody\r\n\r\nmore", b"A: 1\n\n", b"body\r\n\r\nmore"),
        (b"A: 1\r\n\nbody", b"A: 1\r\n\n", b"body"),
        (b"A: 1\n\r\nbody", b"A: 1\n\r\n", b"body"),
        (b"\r\nbody", b"\r\n", b"body"),
        (b"\nbody", b"\n", b"body"),
        (b"A: 1\r\nB: 2\r\n", b"A: 1\r\nB: 2\r\n", b""),
        (b"", b"", b""),
    ],
)
def test_header_section_ends_at_the_first_empty_line(data: bytes, header: bytes,
                                                     body: bytes) -> None:
    assert split_header(data) == (header, body)
    assert header + body == data


def test_fields_are_byte_exact_and_in_order() -> None:
    header, _ = split_header(MESSAGE)
    fields = header_fields(header)
    assert [f.name for f in fields] == ["from", "subject", "x-empty", "content-type"]
    assert b"".join(f.raw for f in fields) + b"\r\n" == header
    assert fields[1].raw == b"Subject: a folded\r\n \tsubject  line\r\n"


def test_unfolding_removes_only_the_line_breaks_before_white_space() -> None:
    fields = header_fields(split_header(MESSAGE)[0])
    assert fields[1].value == b"a folded \tsubject  line"  # RFC 5322 2.2.3
    assert fields[1].text == "a folded subject line"
    assert fields[2].value == b"" and fields[2].text == ""
    assert field_value(b"No colon here\r\n") == b""


def test_lookups_are_by_lower_case_name() -> None:
    fields = header_fields(b"FROM: a\r\nX: 1\r\nfrom : b\r\n\r\n")
    assert values_of(fields, "from") == [b"a", b"b"]  # RFC 5322 4.5: WSP before the colon
    assert first_value(fields, "x") == b"1" and first_value(fields, "y") is None
    assert first_text(fields, "from") == "a" and first_text(fields, "y") is None


def test_a_line_without_colon_is_a_field_of_its_own() -> None:
    fields = header_fields(b"From dr.x@op-a.mssante.fr\r\nTo: b\r\n\r\n")
    assert [f.name for f in fields] == ["from dr.x@op-a.mssante.fr", "to"]


def test_last_field_without_line_end_gets_one() -> None:
    assert header_fields(b"A: 1")[0].raw == b"A: 1\r\n"


def test_eight_bit_octets_never_raise() -> None:
    fields = header_fields("Subject: caf\u00e9\r\nX\xff: y\r\n\r\n".encode("latin-1"))
    assert fields[0].text == "caf\ufffd" and fields[1].name == "x\ufffd"


def test_mime_tree_reads_headers_through_the_same_parser() -> None:
    part = parse_message(MESSAGE)
    assert part.header == split_header(MESSAGE)[0]
    assert [f.name for f in part.fields] == ["from", "subject", "x-empty", "content-type"]
    assert part.mime_type == "multipart/mixed"
    assert part.boundary == "a  b"  # a folded value keeps its white space


@pytest.mark.parametrize(
    ("header", "default", "mime_type"),
    [
        (b"Content-Type: Text/HTML; charset=utf-8\r\n\r\n", "text/plain", "text/html"),
        (b"Subject: x\r\n\r\n", "message/rfc822", "message/rfc822"),
        (b"Content-Type: garbage\r\n\r\n", "message/rfc822", "text/plain"),
        (b"Content-Type:\r\n\r\n", "text/plain", "text/plain"),
        (b"Content-Type: image/png\r\nContent-Type: text/html\r\n\r\n", "text/plain",
         "image/png"),
    ],
)
def test_content_type_and_its_defaults(header: bytes, default: str, mime_type: str) -> None:
    assert parse_part(header, default_type=default).mime_type == mime_type
