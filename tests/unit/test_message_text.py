"""`MessageText` (what SEARCH matches against) compared with the standard-library
reading it replaced: the same answers on the cases the table lists, the
differences listed with their reason, and a deeply nested message answered.

Ref: RFC 3501 6.4.4, RFC 2047, RFC 2045 6, RFC 5322 2.2.3.
"""

from __future__ import annotations

import datetime as dt
import email
import email.errors
import email.header
import email.message
import email.policy
import email.utils
import random
import time
from functools import cached_property

import pytest

from message.address_list import Mailbox, parse_addresses
from message.text import MessageText
from tests.nested_messages import deep_multipart, deep_rfc822


class ReferenceText:
    """The previous `MessageText` (email.message_from_bytes, compat32), kept as the reference."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    @cached_property
    def _message(self) -> email.message.Message:
        return email.message_from_bytes(self._raw, policy=email.policy.compat32)

    @staticmethod
    def _decode(value: str) -> str:
        try:
            return str(email.header.make_header(email.header.decode_header(value)))
        except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
            return value

    @staticmethod
    def _addresses(value: str) -> str:
        items = [a for a in parse_addresses(value) if isinstance(a, Mailbox)]
        return ", ".join(f"{a.name or ''} <{a.local}@{a.domain or ''}>" for a in items)

    @staticmethod
    def _part_text(part: email.message.Message) -> str:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return ""
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")

    def header_contains(self, field: str, needle: str) -> bool:
        values = [self._decode(str(v)) for v in self._message.get_all(field) or []]
        if field.lower() in {"from", "to", "cc", "bcc", "sender", "reply-to"}:
            values += [self._addresses(value) for value in values]
        return any(needle.casefold() in value.casefold() for value in values)

    @cached_property
    def header_text(self) -> str:
        items = self._message.items()
        return "\n".join(f"{name}: {self._decode(str(value))}" for name, value in items)

    @cached_property
    def body_text(self) -> str:
        parts = [p for p in self._message.walk() if not p.is_multipart()]
        return "\n".join(self._part_text(part) for part in parts)

    def body_contains(self, needle: str) -> bool:
        return needle.casefold() in self.body_text.casefold()

    def text_contains(self, needle: str) -> bool:
        return needle.casefold() in self.header_text.casefold() or self.body_contains(needle)

    @cached_property
    def sent_date(self) -> dt.date | None:
        value = self._message.get("Date")
        if value is None:
            return None
        try:
            return email.utils.parsedate_to_datetime(str(value)).date()
        except (TypeError, ValueError, IndexError):
            return None


Query = tuple[str, ...]  # ("header", field, s) | ("body", s) | ("text", s) | ("date",)


def answer(text: MessageText | ReferenceText, query: Query) -> object:
    kind, *args = query
    if kind == "header":
        return text.header_contains(args[0], args[1])
    if kind == "body":
        return text.body_contains(args[0])
    if kind == "text":
        return text.text_contains(args[0])
    return text.sent_date


ENCODED = (
    b"Date: Tue, 5 Mar 2024 23:30:00 -0500\r\n"
    b"Subject: =?utf-8?b?UsOpdW5pb24gw6AgS3nFjXRvIOS8muitsA==?=\r\n"
    b"From: =?iso-8859-1?q?H=E9l=E8ne_Dupr=E9?= <helene@op-a.test>\r\n"
    b"To: =?koi8-r?b?8NLJ18XUIM3J0g==?= <ivan@op-b.test>\r\n"
    b"X-Jp: =?iso-2022-jp?b?GyRCMnE1RCRONUQ7dk8/GyhC?=\r\n"
    b"X-Win: =?windows-1252?q?Zo=EB_=AB=9Cuvre=BB?=\r\n"
    b"X-Bad: =?x-nope?q?abc?= and =?utf-8?q?broken\r\n"
    b"\r\nbody\r\n")
FOLDED = (
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n =?iso-8859-1?q?_cr=E8me?= tail\r\n"
    b"X-Long: first line\r\n\tsecond line\r\n"
    b"X-Dup: one\r\nX-Dup: two\r\n"
    b"Date: Mon, 1 Jan 2024\r\n 10:00:00 +0100\r\n\r\nbody\r\n")
ADDRESSES = (
    b"From: <user (c)@ (c) domain.org>\r\n"
    b"To: alice@x.test (Alice Martin), \"Bob, Jr.\" <bob@x.test>\r\n"
    b"Cc: Team: u1@x.test, \"U 2\" <u2@x.test>;\r\n"
    b"Reply-To: =?utf-8?q?Zo=C3=A9?= <zoe@x.test>\r\n\r\n")
ALTERNATIVE = (
    b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
    b"preamble words\r\n--a\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    b"plain version\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"<p>version=20html d=C3=A9j=\r\n=C3=A0 vue</p>\r\n--a--\r\nepilogue words\r\n")
NESTED = (
    b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n"
    b"Content-Type: multipart/alternative; boundary=n\r\n\r\n--n\r\n\r\n"
    b"deep plain\r\n--n\r\nContent-Type: multipart/related; boundary=o\r\n\r\n--o\r\n"
    b"Content-Type: text/html\r\n\r\n<b>deep html</b>\r\n--o--\r\n--n--\r\n--m\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"YXR0YWNoZWQgYnl0ZXM=\r\n--m--\r\n")
ATTACHED = (
    b"Subject: outer subject\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n"
    b"Content-Type: text/plain\r\n\r\nouter text\r\n--X\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner subject\r\nContent-Type: multipart/alternative; boundary=Y\r\n\r\n--Y\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\naW5uZXIgYmFzZTY0\r\n--Y--\r\n--X--\r\n")
DIGEST = (
    b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
    b"Subject: digest one\r\n\r\ndigest body one\r\n--d--\r\n")
ENCODINGS = (
    b"Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
    b"UsOpc3VsdGF0IG5v\r\ncm1hbCBiYXNlNjQ=\r\n--e\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"qp caf=E9 cr=E8me soft=\r\nbreak\r\n--e\r\n"
    b"Content-Type: text/plain; charset=x-unknown\r\n\r\nunknown charset caf\xc3\xa9\r\n--e\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n8bit latin caf\xe9\r\n--e\r\n"
    b"Content-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"8bit utf8 \xc3\xa0 bient\xc3\xb4t \xff\r\n--e\r\n"
    b"Content-Type: text/plain; charset*=us-ascii''iso-8859-1\r\n\r\nrfc2231 \xe9t\xe9\r\n"
    b"--e--\r\n")
MALFORMED = (
    b"Date: not a date\r\nContent-Type: multipart/mixed\r\n\r\nno boundary text\r\n")
NO_DELIMITER = (
    b"Content-Type: multipart/mixed; boundary=zz\r\n\r\ndelimiter never found\r\n")

CASES: list[tuple[str, bytes, list[tuple[Query, object]]]] = [
    ("encoded-words", ENCODED, [
        (("header", "subject", "réunion à kyōto 会議"), True),
        (("header", "SUBJECT", "UsOpdW5pb24"), False),
        (("header", "from", "hélène dupré"), True),
        (("header", "from", "helene@op-a.test"), True),
        (("header", "to", "привет"), True),
        (("header", "x-jp", "会議の議事録"), True),
        (("header", "x-win", "zoë «œuvre»"), True),
        (("header", "x-bad", "=?x-nope?q?abc?="), True),
        (("header", "subject", ""), True),
        (("header", "cc", ""), False),
        (("text", "kyōto"), True),
        (("text", "x-win: zoë"), True),
        (("date",), dt.date(2024, 3, 5)),
    ]),
    ("folded", FOLDED, [
        (("header", "subject", "café crème tail"), True),
        (("header", "x-long", "second line"), True),
        (("header", "x-dup", "one"), True),
        (("header", "x-dup", "two"), True),
        (("text", "crème"), True),
        (("date",), dt.date(2024, 1, 1)),
    ]),
    ("addresses", ADDRESSES, [
        (("header", "from", "user@domain.org"), True),
        (("header", "from", "(c)"), True),
        (("header", "to", "Alice Martin <alice@x.test>"), True),
        (("header", "to", "bob, jr."), True),
        (("header", "cc", "u1@x.test"), True),
        (("header", "cc", "u 2 <u2@x.test>"), True),
        (("header", "reply-to", "zoé <zoe@x.test>"), True),
        (("header", "sender", "x"), False),
        (("date",), None),
    ]),
    ("alternative", ALTERNATIVE, [
        (("body", "plain version"), True),
        (("body", "version html déjà vue"), True),
        (("body", "preamble"), False),
        (("body", "epilogue"), False),
        (("text", "MIME-Version: 1.0"), True),
    ]),
    ("nested", NESTED, [
        (("body", "deep plain"), True),
        (("body", "<b>deep html</b>"), True),
        (("body", "attached bytes"), True),
        (("body", "YXR0YWNo"), False),
    ]),
    ("attached", ATTACHED, [
        (("body", "outer text"), True),
        (("body", "inner base64"), True),
        (("body", "inner subject"), False),
        (("text", "inner subject"), False),
        (("header", "subject", "inner"), False),
        (("text", "outer subject"), True),
    ]),
    ("digest", DIGEST, [
        (("body", "digest body one"), True),
        (("body", "digest one"), False),
    ]),
    ("encodings", ENCODINGS, [
        (("body", "résultat normal base64"), True),
        (("body", "qp café crème softbreak"), True),
        (("body", "unknown charset café"), True),
        (("body", "8bit latin café"), True),
        (("body", "8bit utf8 à bientôt \ufffd"), True),
        (("body", "rfc2231 été"), True),
        (("text", "BIENTÔT"), True),
    ]),
    ("malformed", MALFORMED, [
        (("body", "no boundary text"), True),
        (("date",), None),
    ]),
    ("no delimiter", NO_DELIMITER, [
        (("body", "delimiter never found"), True),
    ]),
    ("header only", b"Subject: only a header\r\nDate: Fri, 1 Mar 2024 00:00:00 +0000", [
        (("header", "subject", "only a header"), True),
        (("body", "only"), False),
        (("date",), dt.date(2024, 3, 1)),
    ]),
    ("empty", b"", [(("header", "subject", ""), False), (("text", "x"), False), (("date",), None)]),
]


@pytest.mark.parametrize(("name", "raw", "queries"), CASES, ids=[c[0] for c in CASES])
def test_same_answers_as_the_reference(name: str, raw: bytes,
                                       queries: list[tuple[Query, object]]) -> None:
    new, reference = MessageText(raw), ReferenceText(raw)
    for query, expected in queries:
        assert (answer(reference, query), answer(new, query)) == (expected, expected), query


# Where the answers differ on purpose: (case, message, query, reference, new).
DIFFERENCES: list[tuple[str, bytes, Query, object, object]] = [
    # RFC 5322 2.2.3: a folded value is unfolded before matching (the reference kept the CRLF).
    ("folded value", b"Subject: hello\r\n world\r\n\r\n", ("header", "subject", "hello world"),
     False, True),
    # 8-bit header octets read as UTF-8, as `message.headers` reads them (the reference
    # replaced each octet).
    ("utf-8 header", "Subject: Résultats\r\n\r\n".encode(), ("header", "subject", "résultats"),
     False, True),
    # message/delivery-status is a leaf whose text is searched (the reference read its
    # header blocks as messages with empty bodies).
    ("delivery-status", b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x"
     b"\r\n\r\nFinal-Recipient: rfc822; a@b.test\r\n", ("body", "final-recipient"), False, True),
    # x-uuencode is not a MIME transfer encoding: its octets are searched as they are.
    ("x-uuencode", b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n%:&5L;&\\`\r\n"
     b"`\r\nend\r\n", ("body", "hello"), True, False),
]


@pytest.mark.parametrize(("name", "raw", "query", "old", "new"), DIFFERENCES,
                         ids=[d[0] for d in DIFFERENCES])
def test_listed_differences(name: str, raw: bytes, query: Query, old: object,
                            new: object) -> None:
    assert answer(ReferenceText(raw), query) == old
    assert answer(MessageText(raw), query) == new


def test_a_codec_refusing_replace_degrades_to_utf8() -> None:
    raw = b"Content-Type: text/plain; charset=idna\r\n\r\ncaf\xc3\xa9 \xff\r\n"
    with pytest.raises(UnicodeError):  # the reference failed the whole search
        ReferenceText(raw).body_contains("café")
    assert MessageText(raw).body_contains("café \ufffd")
    assert MessageText(raw.replace(b"idna", b"undefined")).body_contains("café")
    assert MessageText(raw.replace(b"idna", b"utf\0x")).body_contains("café")  # NUL in the name


def test_a_charset_python_refuses_leaves_the_encoded_word() -> None:
    raw = b"Subject: =?is\xc3\xa9o?q?abc?= =?a\0b?q?x?=\r\n\r\n"
    with pytest.raises(email.errors.CharsetError):  # the reference failed the whole search
        ReferenceText(raw).header_contains("subject", "abc")
    text = MessageText(raw)
    assert text.header_contains("subject", "=?is\u00e9o?q?abc?=")


def test_never_raises_on_mutated_messages() -> None:
    rng = random.Random(5)
    seeds = [case[1] for case in CASES] + [difference[1] for difference in DIFFERENCES]
    alphabet = b"=?\r\n\t :;\"'<>()@-*qQbB\x00\xff\xe9abcdef0123456789"
    for _ in range(2000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            at = rng.randint(0, len(data))
            if rng.random() < 0.5:
                data[at:at] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            else:
                del data[at : at + rng.randint(1, 5)]
        text = MessageText(bytes(data))
        text.text_contains("a")
        text.header_contains("from", "x")
        assert text.sent_date is None or isinstance(text.sent_date, dt.date)


@pytest.mark.parametrize("levels", [500, 5000])
@pytest.mark.parametrize("build", [deep_multipart, deep_rfc822])
def test_deep_nesting_answers_in_bounded_time(build, levels: int) -> None:  # noqa: ANN001
    raw = build(levels, b"needle at the bottom")
    started = time.perf_counter()
    text = MessageText(raw)
    assert text.body_contains("NEEDLE at the bottom")
    assert text.text_contains("needle at the bottom")
    assert not text.body_contains("absent")
    assert text.header_contains("subject", "deep" if build is deep_multipart else "level")
    assert time.perf_counter() - started < 2.0


def test_the_reference_fails_on_deep_nesting() -> None:
    with pytest.raises(RecursionError):
        ReferenceText(deep_multipart(5000, b"x")).body_contains("x")
