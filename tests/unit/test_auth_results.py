"""`Authentication-Results` fields naming our authserv-id are removed, nothing else
(`message.auth_results`).

Ref: RFC 8601 2.2, 2.5, 5; RFC 5322 2.2.3.
"""

from __future__ import annotations

import pytest

from message.auth_results import authserv_id, without_our_results
from message.headers import without_fields

OURS = "mx.op-b.mssante.fr"
BODY = (b"\r\nAuthentication-Results: mx.op-b.mssante.fr; dkim=pass\r\n"
        b"the line above is body text\r\n")
HEAD = (b"Received: from relay.op-a.mssante.fr\r\n\tby mx.op-a.mssante.fr; "
        b"Mon, 30 Nov 2026 04:00:00 +0000\r\n")
TAIL = (b"From: dr.a@op-a.mssante.fr\r\nTo: dr.b@op-b.mssante.fr\r\nSubject: s\r\n"
        b"Message-ID: <ar-1@op-a.mssante.fr>\r\n")


def message(*fields: bytes) -> bytes:
    return HEAD + b"".join(fields) + TAIL + BODY


@pytest.mark.parametrize(("value", "expected"), [
    (b"mx.op-b.mssante.fr; dkim=pass", "mx.op-b.mssante.fr"),
    (b"mx.op-b.mssante.fr 1; dkim=pass", "mx.op-b.mssante.fr"),  # with a version
    (b"mx.op-b.mssante.fr;dkim=pass", "mx.op-b.mssante.fr"),
    (b"mx.op-b.mssante.fr; none", "mx.op-b.mssante.fr"),
    (b"(a (nested) comment) mx.op-b.mssante.fr (more); spf=pass", "mx.op-b.mssante.fr"),
    (b'"mx.op-b.mssante.fr" 1; dkim=pass', "mx.op-b.mssante.fr"),
    (b'"mx.op-b\\.mssante.fr"; dkim=pass', "mx.op-b.mssante.fr"),  # a quoted-pair
    (b"mx.op-b.mssante.fr(comment); dkim=pass", "mx.op-b.mssante.fr"),
    (b"; dkim=pass", None),
    (b"", None),
    (b"(only a comment", None),
])
def test_authserv_id_is_the_first_value_after_comments(value: bytes,
                                                       expected: str | None) -> None:
    assert authserv_id(value) == expected


def test_a_field_naming_us_is_removed_and_nothing_else_changes() -> None:
    forged = b"Authentication-Results: mx.op-b.mssante.fr; dkim=pass header.d=op-a\r\n"
    assert without_our_results(message(forged), OURS) == message()


def test_a_folded_field_goes_with_its_continuation_lines() -> None:
    forged = (b"Authentication-Results: mx.op-b.mssante.fr;\r\n"
              b"\tdkim=pass header.d=op-a.mssante.fr\r\n"
              b"  header.s=mss;\r\n"
              b"\tspf=pass smtp.mailfrom=op-a.mssante.fr\r\n")
    assert without_our_results(message(forged), OURS) == message()
    folded_before_the_id = b"Authentication-Results:\r\n mx.op-b.mssante.fr; dkim=pass\r\n"
    assert without_our_results(message(folded_before_the_id), OURS) == message()


def test_several_fields_naming_us_are_all_removed_others_kept_in_order() -> None:
    other = b"Authentication-Results: mx.op-a.mssante.fr; dkim=pass header.d=op-a\r\n"
    arc = b"ARC-Authentication-Results: i=1; mx.op-b.mssante.fr; dkim=pass\r\n"
    forged = [
        b"Authentication-Results: mx.op-b.mssante.fr; dkim=pass\r\n",
        b"Authentication-Results: (ours) mx.op-b.mssante.fr 1;\r\n\tdkim=pass\r\n",
        b'Authentication-Results: "mx.op-b.mssante.fr"; spf=pass\r\n',
    ]
    received = message(forged[0], other, forged[1], arc, forged[2])
    assert without_our_results(received, OURS) == message(other, arc)


@pytest.mark.parametrize("spelling", [
    b"Authentication-Results: MX.OP-B.MSSANTE.FR; dkim=pass\r\n",
    b"authentication-results: Mx.Op-B.MssantE.fr; dkim=pass\r\n",
    b"AUTHENTICATION-RESULTS : mx.op-b.mssante.fr; dkim=pass\r\n",  # RFC 5322 4.5
])
def test_name_and_authserv_id_compare_ignoring_case(spelling: bytes) -> None:
    assert without_our_results(message(spelling), OURS) == message()
    assert without_our_results(message(spelling), OURS.upper()) == message()


@pytest.mark.parametrize("kept", [
    b"Authentication-Results: mx.op-a.mssante.fr; dkim=pass\r\n",
    b"Authentication-Results: mx.op-b.mssante.fr.evil; dkim=pass\r\n",
    b"Authentication-Results: op-b.mssante.fr; dkim=pass\r\n",
    b"Authentication-Results: ; dkim=pass\r\n",
    b"X-Authentication-Results: mx.op-b.mssante.fr; dkim=pass\r\n",
    b"Comment: Authentication-Results: mx.op-b.mssante.fr; dkim=pass\r\n",
])
def test_fields_of_other_authserv_ids_are_untouched(kept: bytes) -> None:
    received = message(kept)
    assert without_our_results(received, OURS) is received  # not even copied


def test_the_body_and_enclosed_messages_are_never_read() -> None:
    enclosed = (b"Content-Type: message/rfc822\r\n\r\n"
                b"Authentication-Results: mx.op-b.mssante.fr; dkim=pass\r\n"
                b"Subject: forwarded\r\n\r\nold\r\n")
    received = HEAD + TAIL + enclosed
    assert without_our_results(received, OURS) is received
    plain = message()
    assert b"\r\nAuthentication-Results: mx.op-b.mssante.fr" in plain  # a body line
    assert without_our_results(plain, OURS) is plain


def test_line_ends_and_a_header_without_body_are_kept_as_they_are() -> None:
    lf = b"A: 1\nAuthentication-Results: mx.op-b.mssante.fr;\n dkim=pass\nB: 2\n\nbody\n"
    assert without_our_results(lf, OURS) == b"A: 1\nB: 2\n\nbody\n"
    no_body = b"A: 1\r\nAuthentication-Results: mx.op-b.mssante.fr; none"
    assert without_our_results(no_body, OURS) == b"A: 1\r\n"
    first = b"Authentication-Results: mx.op-b.mssante.fr; none\r\n\r\nbody"
    assert without_our_results(first, OURS) == b"\r\nbody"


def test_without_fields_keeps_every_octet_of_kept_fields() -> None:
    odd = b"A:  x \r\n\t y\r\nNoColon\r\nB: 2\r\n\r\n\xff body \r\n"
    assert without_fields(odd, lambda f: False) is odd
    assert without_fields(odd, lambda f: f.name == "b") == b"A:  x \r\n\t y\r\nNoColon\r\n" \
        b"\r\n\xff body \r\n"
    assert without_fields(b"", lambda f: True) == b""
