"""Properties of the message format (`message/`): header, MIME tree, meta and its codec,
address lists, MIME parameters, the strict author reader, facts and search text.

These parsers promise never to raise on any input (the strict reader and the
meta codec raise only their documented `ValueError` subclasses), to keep the
octets they were given, and to read back what they, or a careful writer, wrote.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from message.address_list import GroupEnd, GroupStart, Mailbox, parse_addresses
from message.facts import read_facts
from message.headers import field_value, header_fields, split_header
from message.mailboxes import Ambiguous, strict_mailboxes
from message.meta import compute_meta
from message.meta_codec import decode_meta, encode_meta
from message.mime_params import header_params
from message.mime_tree import MAX_DEPTH, MimePart, parse_message
from message.text import MessageText
from message.transfer_encoding import decode_transfer

_NAMES = st.sampled_from([
    "From", "To", "Cc", "Bcc", "Sender", "Reply-To", "Subject", "Date", "Message-ID",
    "In-Reply-To", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    "Content-Language", "Content-ID", "Content-Description", "Content-MD5", "X-MSS-NIL",
    "content-type", " Content-Type", "X", "",
])
_VALUES = st.sampled_from([
    "text/plain", "text/plain; charset=utf-8", "multipart/mixed; boundary=b",
    'multipart/alternative; boundary="b c"', "multipart/digest; boundary=d",
    "message/rfc822", "text/html; name*0*=utf-8''a%20; name*1=b", "attachment; filename=x",
    "inline", "base64", "quoted-printable", "7bit", "x-unknown", "fr, en", "",
    "a@b.fr", "Dr A <a@b.fr>, c@d.fr (C)", "g: a@b.fr, <c@d.fr>;", '"q\\"x" <@r:l@d>',
    "=?utf-8?b?w6k=?=", "=?x-unknown?q?a?=", "Mon, 1 Jan 2024 00:00:00 +0000", "garbage (",
    "<id@x>", "\xe9t\xe9", "a\r\n b", "\x00",
])
_LINE_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r", b""])


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@st.composite
def header_sections(draw: st.DrawFn) -> bytes:
    """Header fields built from likely names and values, with odd line ends and folding."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        name, value = draw(_NAMES), draw(_VALUES | st.text(max_size=20))
        out += _bytes(name) + draw(st.sampled_from([b":", b": ", b" :", b""])) + _bytes(value)
        if draw(st.booleans()):
            out += b"\r\n\t" + _bytes(draw(st.text(max_size=8)))
        out += draw(_LINE_ENDS)
    return bytes(out)


def _boundary_of(header: bytes) -> bytes:
    for candidate in (b"b c", b"b", b"d"):
        if b"boundary=" + candidate in header or b'boundary="' + candidate in header:
            return candidate
    return b"b"


def _entity(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        header = draw(header_sections())
        boundary = _boundary_of(header)
        parts = draw(st.lists(children, max_size=3))
        body = b"".join(b"--" + boundary + draw(_LINE_ENDS) + p + b"\r\n" for p in parts)
        if draw(st.booleans()):
            body += b"--" + boundary + b"--" + draw(_LINE_ENDS)
        body += draw(st.binary(max_size=20))
        return header + draw(_LINE_ENDS) + body
    return build()


messages = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.binary(max_size=40), _entity, max_leaves=8),
)


@given(messages)
@example(b"Subject: x\r\n\r\nbody")
@example(b"\r\n\r\n")
@example(b" leading continuation\r\nSubject: x\r\n\r\n")
def test_header_split_keeps_every_octet(data: bytes) -> None:
    header, body = split_header(data)
    assert header + body == data
    fields = header_fields(header)
    for field in fields:
        assert field.name == field.name.lower()
        assert field.raw.endswith(b"\n")
        assert field_value(field.raw) == field.value
        assert isinstance(field.text, str)
    # every non-blank octet of the header section is in exactly one field, in order
    joined = b"".join(field.raw for field in fields)
    assert b"".join(joined.split()) == b"".join(header.split())


def _walk(part: MimePart) -> list[MimePart]:
    parts = [part]
    for child in part.children:
        parts += _walk(child)
    if part.encapsulated is not None:
        parts += _walk(part.encapsulated)
    return parts


@given(messages)
@example(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n")
@example(b"Content-Type: message/rfc822\r\n\r\n" * 40)
@example(b"Content-Type: multipart/mixed; boundary=\xff\r\n\r\n--\xff\r\n\r\nx")
def test_mime_tree_keeps_octets_and_bounds_depth(data: bytes) -> None:
    root = parse_message(data)
    assert root.raw == data
    for part in _walk(root):
        assert part.raw in data
        assert part.depth <= MAX_DEPTH
        assert part.mime_type.count("/") == 1
        for child in part.children:
            assert child.raw in part.body
            assert child.depth == part.depth + 1


@given(messages)
@example(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n")
@example(b"From: \xff\xfe <a@b>\r\nSubject: \xe9\r\n\r\n")
def test_meta_is_computed_and_stored_without_loss(data: bytes) -> None:
    meta = compute_meta(data)
    assert decode_meta(encode_meta(meta)) == meta
    assert meta.header == split_header(data)[0]


@given(st.binary(max_size=120) | messages.map(lambda d: encode_meta(compute_meta(d))),
       st.integers(0, 200), st.binary(max_size=4))
@example(b'M1\x00\x00\x00\x04[1,2]', 0, b"")
@example(b"M1\x00\x00\x00\x02\xff\xfe", 0, b"")
def test_damaged_meta_blob_is_refused_with_value_error(blob: bytes, cut: int,
                                                        noise: bytes) -> None:
    damaged = blob[:cut] + noise + blob[cut + len(noise):]
    try:
        decode_meta(damaged)
    except ValueError:
        pass


def test_deeply_nested_meta_blob_is_refused_with_value_error() -> None:
    depth = 5_000
    doc = b"[" * depth + b"]" * depth
    try:
        decode_meta(b"M1" + len(doc).to_bytes(4, "big") + doc)
    except ValueError:
        return
    raise AssertionError("a meta blob nested 5,000 deep was accepted")


_ATEXT = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCZ0123456789!#$%&'*+-/=?^_`{|}~"),
                 min_size=1, max_size=8)
# An encoded-word opener in an address is refused by the strict reader, on purpose.
_LOCAL = st.lists(_ATEXT, min_size=1, max_size=3).map(".".join).filter(lambda s: "=?" not in s)
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=3).map(".".join)
_DISPLAY = st.lists(_ATEXT, min_size=1, max_size=3).map(" ".join)


@given(st.lists(st.tuples(_DISPLAY | st.none(), _LOCAL, _DOMAIN), min_size=1, max_size=4))
@example([(None, "a.b", "x-1.fr"), ("Dr A", "c", "d")])
def test_rendered_address_list_reads_back(mailboxes: list[tuple[str | None, str, str]]) -> None:
    rendered = ", ".join(f"{name} <{local}@{domain}>" if name else f"{local}@{domain}"
                         for name, local, domain in mailboxes)
    assert parse_addresses(rendered) == [
        Mailbox(name, None, local, domain) for name, local, domain in mailboxes]
    strict = strict_mailboxes(rendered)
    assert strict == tuple(f"{local}@{domain}".lower() for _, local, domain in mailboxes)


@given(st.text(max_size=80) | _VALUES)
@example('g: a@b, "unterminated')
@example("((((")
@example("<<>>@@::;;")
def test_address_parsers_never_crash(value: str) -> None:
    items = parse_addresses(value)
    opened = 0
    for item in items:
        assert isinstance(item, Mailbox | GroupStart | GroupEnd)
        opened += isinstance(item, GroupStart)
        opened -= isinstance(item, GroupEnd)
        assert 0 <= opened <= 1
    assert opened == 0
    try:
        strict_mailboxes(value)
    except Ambiguous:
        pass


_TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzXYZ0123456789-._"),
                 min_size=1, max_size=10)
_PARAM_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@given(_TOKEN, _TOKEN, st.dictionaries(_TOKEN.map(str.upper), _PARAM_VALUE, max_size=4))
def test_rendered_mime_params_read_back(kind: str, sub: str, params: dict[str, str]) -> None:
    quoted = "".join(
        f'; {name}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for name, value in params.items())
    head, parsed = header_params(f"{kind}/{sub}{quoted}")
    assert head == f"{kind}/{sub}"
    assert parsed == list(params.items())


@given(st.text(max_size=80) | _VALUES)
@example("a; b*0*=x; b*1=y; b*999=z; b*1000=w")
@example('a; b="\\')
def test_mime_params_never_crash(value: str) -> None:
    head, params = header_params(value)
    assert isinstance(head, str)
    assert all(name == name.upper() for name, _ in params)
    assert len({name for name, _ in params}) == len(params)


@given(messages)
@example(b"From: a@b\rSender: c@d\r\n\r\n")
@example(b"Content-Type: multipart/report; report-type\r\n\r\n")
def test_facts_and_search_text_never_crash(data: bytes) -> None:
    facts = read_facts(data)
    assert facts.author.problem is None or facts.author.mailboxes == ()
    text = MessageText(data)
    text.header_contains("subject", "x")
    text.header_contains("from", "")
    text.text_contains("é")
    assert text.sent_date is None or text.sent_date.year >= 1


@given(st.binary(max_size=200), st.sampled_from(["base64", "QUOTED-PRINTABLE", " 7bit ",
                                                  "binary", "x-uuencode", ""]))
@example(b"=\r\n=4", "quoted-printable")
@example(b"a===", "base64")
def test_transfer_decoding_never_crashes(body: bytes, encoding: str) -> None:
    decoded = decode_transfer(body, encoding)
    assert decoded is None or isinstance(decoded, bytes)
