"""Message facts for the policy: From/Sender read once and strictly, content type, audit values."""

from __future__ import annotations

import pytest

from message.facts import AddressFacts, address_facts, read_facts
from message.mailboxes import Ambiguous, strict_mailboxes
from message.meta import compute_meta

DR_X = "dr.x@op-a.mssante.fr"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("A <A@B.fr>, c@d.fr", ("a@b.fr", "c@d.fr")),
        ('"a@b.fr" <c@d.fr>', ("c@d.fr",)),
        ("=?utf-8?q?Dr_X_=C3=A9?= <Dr.X@op-a.mssante.fr>", (DR_X,)),
        ('"Dr, X" <dr.x@op-a.mssante.fr>', (DR_X,)),
        ("Dr. X <dr.x@op-a.mssante.fr>", (DR_X,)),
        ("dr.x@op-a.mssante.fr (Dr X)", (DR_X,)),
        ("Dr (the) X <dr.x@op-a.mssante.fr> (work)", (DR_X,)),
        ("Docteur Xé <dr.x@op-a.mssante.fr>", (DR_X,)),
        ("  <dr.x@op-a.mssante.fr>  ", (DR_X,)),
    ],
)
def test_plain_mailbox_lists_are_read(value: str, parsed: tuple[str, ...]) -> None:
    assert strict_mailboxes(value) == parsed


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("a@b.fr <c@d.fr>", "display name"),
        ("garbage <<", "angle"),
        ("evil@op-b.mssante.fr)<dr.x@op-a.mssante.fr>", "syntax"),
        ("undisclosed:;", "group"),
        ("friends: dr.x@op-a.mssante.fr;", "group"),
        ("drx", "local@domain"),
        ("dr.x@op-a.mssante.fr,", "empty"),
        (", dr.x@op-a.mssante.fr", "empty"),
        ('"evil@op-b.mssante.fr"@op-a.mssante.fr', "quoted"),
        ("dr.x@[192.0.2.1]", "domain literal"),
        ("=?utf-8?b?ZHIueA==?=@op-a.mssante.fr", "encoded-word"),
        ("X <=?utf-8?q?dr.x?=@op-a.mssante.fr>", "encoded-word"),
        ("X <@relay.example:dr.x@op-a.mssante.fr>", "group"),
        ("X <dr.x(c)@op-a.mssante.fr>", "local@domain"),
        ("dr.x @ op-a.mssante.fr", "local@domain"),
        ("X <dr.x@op-a.mssante.fr", "angle"),
        ("X dr.x@op-a.mssante.fr>", "angle"),
        ("X <dr.x@op-a.mssante.fr> <evil@op-b.mssante.fr>", "angle"),
        ('"unterminated <dr.x@op-a.mssante.fr>', "unterminated"),
        ("X (unterminated <dr.x@op-a.mssante.fr>", "unterminated"),
        ("drx@op-a.mssante.fr.", "malformed"),
        (".dr.x@op-a.mssante.fr", "malformed"),
        ("dr..x@op-a.mssante.fr", "malformed"),
        ("dr.x@-op-a.mssante.fr", "malformed"),
        ("dré@op-a.mssante.fr", "non-ASCII"),
        ("X <dr.x@op-a.mssante.fr>\x00", "syntax"),
        ("X\\ <dr.x@op-a.mssante.fr>", "syntax"),
    ],
)
def test_anything_ambiguous_is_refused_with_a_reason(value: str, why: str) -> None:
    with pytest.raises(Ambiguous, match=why):
        strict_mailboxes(value)


def test_address_facts_count_fields_and_fail_closed() -> None:
    assert address_facts([]) == AddressFacts(0, (), "no field")
    assert address_facts([DR_X.encode(), DR_X.encode()]) == AddressFacts(2, (), "2 fields")
    assert address_facts([b"\xff <" + DR_X.encode() + b">"]) == AddressFacts(1, (), "not UTF-8")
    assert address_facts([b"undisclosed:;"]) == AddressFacts(1, (), "group syntax")
    assert address_facts([f"X <{DR_X}>".encode()]) == AddressFacts(1, (DR_X,))


def test_read_facts_keeps_what_the_policy_and_audit_need() -> None:
    facts = read_facts(
        b"From: Dr X <Dr.X@op-a.mssante.fr>\r\nSender: secretariat@op-a.mssante.fr\r\n"
        b"Message-ID:\r\n <id-1@client.test>\r\nX-MSS-NIL: stats-1\r\n"
        b"Content-Type: Multipart/Report;\r\n report-type=\"Disposition-Notification\";"
        b" boundary=b1\r\n\r\n--b1\r\nFrom: evil@op-b.mssante.fr\r\n")
    assert facts.message_id == "<id-1@client.test>" and facts.mss_nil == "stats-1"
    assert facts.mime_type == "multipart/report"
    assert facts.report_type == "disposition-notification"
    assert facts.content_type.startswith("multipart/report; report-type=")
    assert facts.author == AddressFacts(1, (DR_X,))
    assert facts.sender == AddressFacts(1, ("secretariat@op-a.mssante.fr",))
    assert [name for name, _ in facts.headers] == [
        "from", "sender", "message-id", "x-mss-nil", "content-type"]


def test_defaults_without_the_fields() -> None:
    facts = read_facts(b"Subject: x\r\n\r\nbody")
    assert (facts.message_id, facts.mss_nil, facts.mime_type, facts.report_type) == (
        "", None, "text/plain", None)
    assert facts.content_type == "text/plain"
    assert facts.author.problem == "no field" and facts.sender.count == 0


@pytest.mark.parametrize(
    "message",
    [
        b"From: " + DR_X.encode() + b"\r\nTo: y@op-b.mssante.fr\r\n\r\nbody",
        b"From:\r\n Dr X\r\n <" + DR_X.encode() + b">\r\n\r\nbody",
    ],
)
def test_the_policy_sees_the_from_that_envelope_shows(message: bytes) -> None:
    facts = read_facts(message)
    envelope = compute_meta(message).envelope
    assert facts.author.mailboxes == (DR_X,)
    assert envelope.from_ is not None and len(envelope.from_) == 1
    _name, _route, local, domain = envelope.from_[0]
    assert f"{local}@{domain}".lower() == DR_X


def test_white_space_before_the_colon_still_names_a_from_field() -> None:
    facts = read_facts(b"From: " + DR_X.encode() + b"\r\nFrom : evil@op-b.mssante.fr\r\n\r\n")
    assert facts.author == AddressFacts(2, (), "2 fields")


@pytest.mark.parametrize(
    "message",
    [
        # LF-tolerant readers end the header section at "\n\n", CRLF-only readers
        # at "\r\n\r\n" and see a second From: trusted by neither reading.
        b"From: " + DR_X.encode() + b"\n\nFrom: evil@op-b.mssante.fr\r\n\r\nbody",
        b"From: " + DR_X.encode() + b"\nFrom: evil@op-b.mssante.fr\r\n\r\nbody",
        b"X: 1\rFrom: evil@op-b.mssante.fr\r\nFrom: " + DR_X.encode() + b"\r\n\r\nbody",
        b"From: " + DR_X.encode() + b"\r\nSubject: a\n b\r\n\r\nbody",
    ],
)
def test_bare_line_ends_in_the_header_section_make_the_authors_untrusted(
        message: bytes) -> None:
    facts = read_facts(message)
    assert facts.author.mailboxes == () and facts.author.problem is not None


def test_bare_line_ends_in_the_body_do_not_matter() -> None:
    facts = read_facts(b"From: " + DR_X.encode() + b"\r\n\r\nline\nother\rline\r\n")
    assert facts.author == AddressFacts(1, (DR_X,))
