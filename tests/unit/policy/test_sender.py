"""Rules sender_authorised (MAIL), null_sender and from_header (DATA)."""

from __future__ import annotations

from typing import Any

import pytest

from policy import replies
from policy.reply import Reply
from policy.sender import check_from_header, check_mail, check_null_sender
from tests.unit.policy.factories import DR_X, SECRETARIAT, data, mail, mx_session, session

ANON = session(authenticated_bal=None, bal_type=None, granted_bals=frozenset(), person=None)


@pytest.mark.parametrize(
    ("sess", "mail_from", "reply"),
    [
        (session(), DR_X, None),
        (session(), "DR.X@OP-A.MSSANTE.FR", None),
        (session(), SECRETARIAT, None),
        (session(), "Secretariat@op-a.mssante.fr", None),
        (session(), "", None),
        (session(), "dr.z@op-a.mssante.fr", replies.SENDER_NOT_AUTHORISED),
        (session(), "dr.x@op-a.mssante.fr.evil.com", replies.SENDER_NOT_AUTHORISED),
        (session(), "dr.x@op-b.mssante.fr", replies.SENDER_NOT_AUTHORISED),
        (ANON, DR_X, replies.AUTH_REQUIRED),
        (ANON, "", replies.AUTH_REQUIRED),
        (mx_session(), "anyone@op-b.mssante.fr", None),
    ],
)
def test_envelope_sender_at_mail(sess: Any, mail_from: str, reply: Reply | None) -> None:
    verdict = check_mail(mail(session=sess, mail_from=mail_from))
    assert (verdict.reply if verdict else None) is reply


def test_refusal_reason_names_the_person_not_the_public_text() -> None:
    verdict = check_mail(mail(mail_from="dr.z@op-a.mssante.fr"))
    assert verdict is not None
    assert "drx" in verdict.reason and "dr.z@op-a.mssante.fr" in verdict.reason
    assert "drx" not in verdict.reply.line()  # type: ignore[union-attr]


DSN = "multipart/report; report-type=delivery-status; boundary=x"
MDN = 'multipart/report; report-type="disposition-notification"; boundary="b"'


@pytest.mark.parametrize(
    ("mail_from", "content_type", "listener", "reply"),
    [
        ("", DSN, "submission", None),
        ("", MDN, "submission", None),
        ("", "Multipart/Report; Report-Type=Disposition-Notification", "submission", None),
        ("", "multipart/report", "submission", replies.NULL_SENDER_NOT_REPORT),
        ("", "multipart/report; report-type=other", "submission", replies.NULL_SENDER_NOT_REPORT),
        ("", "text/plain", "submission", replies.NULL_SENDER_NOT_REPORT),
        ("", "", "submission", replies.NULL_SENDER_NOT_REPORT),
        (
            "",
            "multipart/mixed; report-type=delivery-status",
            "submission",
            replies.NULL_SENDER_NOT_REPORT,
        ),
        (DR_X, "text/plain", "submission", None),
        ("", "text/plain", "mx", None),
    ],
)
def test_null_sender_only_for_reports(
    mail_from: str, content_type: str, listener: str, reply: Reply | None
) -> None:
    sess = session() if listener == "submission" else mx_session()
    verdict = check_null_sender(data(session=sess, mail_from=mail_from, content_type=content_type))
    assert (verdict.reply if verdict else None) is reply


MISMATCH = replies.FROM_HEADER_MISMATCH


@pytest.mark.parametrize(
    ("mail_from", "headers", "reply"),
    [
        (DR_X, [("From", DR_X)], None),
        (DR_X, [("From", "Dr X <DR.X@op-a.mssante.fr>")], None),
        (DR_X, [("from", "=?utf-8?q?Dr_X_=C3=A9?= <dr.x@op-a.mssante.fr>")], None),
        (DR_X, [("From", '"Dr, X" <dr.x@op-a.mssante.fr>')], None),
        (DR_X, [("From", "dr.z@op-a.mssante.fr")], MISMATCH),
        (DR_X, [("From", SECRETARIAT)], MISMATCH),
        (DR_X, [], MISMATCH),
        (DR_X, [("From", DR_X), ("From", "boss@op-a.mssante.fr")], MISMATCH),
        (DR_X, [("From", "")], MISMATCH),
        (DR_X, [("From", "garbage <<")], MISMATCH),
        (DR_X, [("From", '"dr.x@op-a.mssante.fr" <evil@op-b.mssante.fr>')], MISMATCH),
        (DR_X, [("From", "dr.x@op-a.mssante.fr <evil@op-b.mssante.fr>")], MISMATCH),
        (DR_X, [("From", "evil@op-b.mssante.fr)<dr.x@op-a.mssante.fr>")], MISMATCH),
        (DR_X, [("From", "undisclosed:;")], MISMATCH),
        # Several authors need a Sender naming the envelope sender (RFC 5322 3.6.2).
        (DR_X, [("From", f"{DR_X}, {SECRETARIAT}"), ("Sender", DR_X)], None),
        (DR_X, [("From", f"{SECRETARIAT}, boss@op-a.mssante.fr"), ("Sender", f"X <{DR_X}>")], None),
        (DR_X, [("From", f"{DR_X}, {SECRETARIAT}")], MISMATCH),
        (DR_X, [("From", f"{DR_X}, {SECRETARIAT}"), ("Sender", SECRETARIAT)], MISMATCH),
        (DR_X, [("From", f"{DR_X}, {SECRETARIAT}"), ("Sender", DR_X), ("Sender", DR_X)], MISMATCH),
        (
            DR_X,
            [("From", f"{DR_X}, {SECRETARIAT}"), ("Sender", f"{DR_X}, {SECRETARIAT}")],
            MISMATCH,
        ),
        # A single author with a Sender naming the person or one of their BALs is fine.
        (SECRETARIAT, [("From", SECRETARIAT), ("Sender", DR_X)], None),
        (SECRETARIAT, [("From", SECRETARIAT), ("Sender", "drx")], MISMATCH),  # not an address
        (SECRETARIAT, [("From", SECRETARIAT), ("Sender", "someone@op-b.mssante.fr")], MISMATCH),
        # Null sender (MDN/DSN): From must be one of the granted BALs.
        ("", [("From", DR_X)], None),
        ("", [("From", SECRETARIAT)], None),
        ("", [("From", "boss@op-a.mssante.fr")], MISMATCH),
    ],
)
def test_from_header(mail_from: str, headers: list[tuple[str, str]], reply: Reply | None) -> None:
    verdict = check_from_header(data(mail_from=mail_from, headers=tuple(headers)))
    assert (verdict.reply if verdict else None) is reply
    if verdict is not None:
        assert verdict.rule == "from_header"


def test_sender_may_name_the_person_login_when_it_is_an_address() -> None:
    sess = session(person="Jean.Martin@op-a.mssante.fr")
    headers = (("From", SECRETARIAT), ("Sender", "Jean Martin <jean.martin@op-a.mssante.fr>"))
    assert check_from_header(data(session=sess, mail_from=SECRETARIAT, headers=headers)) is None


def test_from_header_is_not_checked_on_mx() -> None:
    ctx = data(
        session=mx_session(),
        mail_from="x@op-b.mssante.fr",
        headers=(("From", "y@op-c.mssante.fr"),),
    )
    assert check_from_header(ctx) is None

