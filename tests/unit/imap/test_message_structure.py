"""Sections from the byte-level MIME tree; ENVELOPE and BODYSTRUCTURE from the
meta computed once (and through its stored byte format)."""

import pytest

from imap_store.imap.parse.fetch_spec import Section
from imap_store.imap.render.bodystructure import body_structure
from imap_store.imap.render.envelope import envelope_value
from imap_store.imap.render.mime_parts import parse_message, section_bytes, top_section_bytes
from imap_store.imap.render.response import render_value
from message.address_list import GroupEnd, GroupStart, Mailbox, parse_addresses
from message.meta import MessageMeta, compute_meta, envelope_of
from message.meta_codec import decode_meta, encode_meta
from message.mime_tree import MAX_DEPTH


def meta(raw: bytes) -> MessageMeta:
    computed = compute_meta(raw)
    assert decode_meta(encode_meta(computed)) == computed
    return decode_meta(encode_meta(computed))

SIMPLE = (
    b"Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n"
    b"From: \"Dr. Alice\" <alice@op-a.mssante.fr>\r\n"
    b"To: bob@op-b.mssante.fr, Carol <carol@op-b.mssante.fr>\r\n"
    b"Subject: =?utf-8?q?R=C3=A9sultats?=\r\n"
    b" suite\r\n"
    b"Message-ID: <m1@op-a>\r\n"
    b"\r\n"
    b"Hello\r\nWorld\r\n"
)

MULTI = (
    b"From: a@x\r\nSubject: multi\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
    b"preamble\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody one\r\n"
    b"--XX\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: inner@y\r\nSubject: inner\r\n\r\ninner body\r\n"
    b"--XX\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=\"r.pdf\"\r\n\r\nJVBERi0=\r\n"
    b"--XX--\r\nepilogue\r\n"
)


def sec(part: tuple[int, ...] = (), text: str | None = None,
        fields: tuple[str, ...] = ()) -> Section:
    return Section(part, text, fields)


def test_simple_sections() -> None:
    root = parse_message(SIMPLE)
    assert section_bytes(root, sec()) == SIMPLE
    assert section_bytes(root, sec(text="TEXT")) == b"Hello\r\nWorld\r\n"
    assert section_bytes(root, sec((1,))) == b"Hello\r\nWorld\r\n"
    assert section_bytes(root, sec((2,))) is None
    header = section_bytes(root, sec(text="HEADER"))
    assert header is not None and header.endswith(b"<m1@op-a>\r\n\r\n")
    assert section_bytes(root, sec(text="HEADER.FIELDS", fields=("subject", "FROM"))) == (
        b"From: \"Dr. Alice\" <alice@op-a.mssante.fr>\r\n"
        b"Subject: =?utf-8?q?R=C3=A9sultats?=\r\n suite\r\n\r\n")
    not_fields = section_bytes(root, sec(text="HEADER.FIELDS.NOT", fields=("Subject",)))
    assert not_fields is not None and b"Subject" not in not_fields and b"Date:" in not_fields


TOP_SECTIONS = (sec(), sec(text="TEXT"), sec(text="HEADER"),
                sec(text="HEADER.FIELDS", fields=("subject", "FROM", "absent")),
                sec(text="HEADER.FIELDS.NOT", fields=("Subject", "Content-Type")))
ODD_MESSAGES = (b"", b"\r\nbody after an empty header", b"Subject: no body, no blank line",
                b"Subject: bare LF\n\nbody\n", b"X: 1\r\n\r\n\r\nstarts with a blank line")


@pytest.mark.parametrize("raw", [SIMPLE, MULTI, *ODD_MESSAGES])
def test_top_sections_cut_without_the_tree_are_those_of_the_tree(raw: bytes) -> None:
    """BODY[], BODY[TEXT] and BODY[HEADER...] are cut from the octets without a MIME
    parse: the same octets as through the parsed tree, odd messages included."""
    root = parse_message(raw)
    for section in TOP_SECTIONS:
        assert top_section_bytes(raw, section) == section_bytes(root, section), section
    with pytest.raises(ValueError, match="part number"):
        top_section_bytes(raw, sec((1,)))


def test_multipart_sections() -> None:
    root = parse_message(MULTI)
    assert section_bytes(root, sec((1,))) == b"body one"
    assert section_bytes(root, sec((1,), "MIME")) == (
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n")
    inner = b"From: inner@y\r\nSubject: inner\r\n\r\ninner body"
    assert section_bytes(root, sec((2,))) == inner
    assert section_bytes(root, sec((2,), "HEADER")) == b"From: inner@y\r\nSubject: inner\r\n\r\n"
    assert section_bytes(root, sec((2,), "TEXT")) == b"inner body"
    assert section_bytes(root, sec((2, 1))) == b"inner body"
    assert section_bytes(root, sec((3,))) == b"JVBERi0="
    assert section_bytes(root, sec((4,))) is None
    assert section_bytes(root, sec((1, 1))) == b"body one"
    assert section_bytes(root, sec((1,), "HEADER")) is None


def test_envelope() -> None:
    value = render_value(envelope_value(meta(SIMPLE).envelope))
    assert value == (
        b'("Tue, 5 Mar 2024 10:00:00 +0100" "=?utf-8?q?R=C3=A9sultats?= suite"'
        b' (("Dr. Alice" NIL "alice" "op-a.mssante.fr"))'
        b' (("Dr. Alice" NIL "alice" "op-a.mssante.fr"))'
        b' (("Dr. Alice" NIL "alice" "op-a.mssante.fr"))'
        b' ((NIL NIL "bob" "op-b.mssante.fr") ("Carol" NIL "carol" "op-b.mssante.fr"))'
        b' NIL NIL NIL "<m1@op-a>")')


def test_envelope_two_senders_and_groups_do_not_break() -> None:
    header = (b"From: a@x\r\nSender: s1@x\r\nSender: s2@x\r\n"
              b"To: Team: u1@x, \"U 2\" <u2@x>;, after@x\r\nCc: undisclosed-recipients:;\r\n\r\n")
    value = render_value(envelope_value(envelope_of(header)))
    assert b'((NIL NIL "s1" "x"))' in value
    assert (b'((NIL NIL "Team" NIL) (NIL NIL "u1" "x") ("U 2" NIL "u2" "x")'
            b' (NIL NIL NIL NIL) (NIL NIL "after" "x"))') in value
    assert b'((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL))' in value


def test_address_parser_is_total() -> None:
    for junk in ["", ",,,", "<<<>>>", "(((", ":;:;", "a@", "@b", '"\\', '"open <a@b', "\x00"]:
        assert isinstance(parse_addresses(junk), list)
    assert parse_addresses("G: a@b") == [GroupStart("G"), Mailbox(None, None, "a", "b"),
                                         GroupEnd()]
    assert parse_addresses("<@r1,@r2:u@h>") == [Mailbox(None, "@r1,@r2", "u", "h")]
    assert parse_addresses("u@h (Comment)") == [Mailbox("Comment", None, "u", "h")]
    assert parse_addresses("Name <u@h> (Comment)") == [Mailbox("Name", None, "u", "h")]
    assert parse_addresses("<u (c)@ (c) h>") == [Mailbox(None, None, "u", "h")]


def test_bodystructure_simple() -> None:
    value = render_value(body_structure(meta(SIMPLE).structure))
    assert value == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 14 2 NIL NIL NIL NIL)'
    assert render_value(body_structure(meta(SIMPLE).structure, extensible=False)) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 14 2)')


def test_bodystructure_multipart() -> None:
    value = render_value(body_structure(meta(MULTI).structure))
    assert value.startswith(
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 8 1 NIL NIL NIL NIL)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ')
    assert b'("APPLICATION" "PDF" ("NAME" "r.pdf") NIL NIL "BASE64" 8 NIL' in value
    assert b'("ATTACHMENT" ("FILENAME" "r.pdf"))' in value
    assert value.endswith(b' "MIXED" ("BOUNDARY" "XX") NIL NIL NIL)')


def _nested_multiparts(levels: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    for i in reversed(range(levels)):
        inner = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n%s\r\n--b%d--\r\n"
                 % (i, i, inner, i))
    return inner


def _nested_messages(levels: int) -> bytes:
    inner = b"Subject: leaf\r\n\r\nleaf\r\n"
    for _ in range(levels):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return inner


def _paren_depth(value: bytes) -> int:
    depth = deepest = 0
    for byte in value:
        depth += {40: 1, 41: -1}.get(byte, 0)
        deepest = max(deepest, depth)
    return deepest


def test_hostile_nesting_is_bounded() -> None:
    """200 levels (of multiparts, and of message/rfc822) are parsed down to
    MAX_DEPTH only: below it a part is a leaf, BODYSTRUCTURE stops there and a
    deeper section does not exist."""
    multi = _nested_multiparts(200)
    root = parse_message(multi)
    part, levels = root, 0
    while part.children:
        assert len(part.children) == 1
        part, levels = part.children[0], levels + 1
    assert (levels, part.depth) == (MAX_DEPTH, MAX_DEPTH)
    assert part.is_multipart and part.body.startswith(b"--b%d\r\n" % MAX_DEPTH)
    assert section_bytes(root, sec((1,) * MAX_DEPTH)) == part.body
    assert section_bytes(root, sec((1,) * (MAX_DEPTH + 1))) is None
    assert section_bytes(root, sec((1,) * 50)) is None

    messages = _nested_messages(200)
    part, levels = parse_message(messages), 0
    while (inner := part.encapsulated) is not None:
        part, levels = inner, levels + 1
    assert (levels, part.depth) == (MAX_DEPTH, MAX_DEPTH)
    assert part.mime_type == "message/rfc822"

    for msg in (multi, messages):
        structure = render_value(body_structure(meta(msg).structure))
        assert MAX_DEPTH <= _paren_depth(structure) <= MAX_DEPTH + 3
        assert len(structure) < 200 * MAX_DEPTH
