"""Reply, SmtpReject and the named reply constants."""

from __future__ import annotations

import pytest

from policy import replies
from policy.reply import Reply, SmtpReject


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "line"),
    [
        (
            550,
            "5.7.1",
            "Recipient outside the MSSante trust space",
            "550 5.7.1 Recipient outside the MSSante trust space",
        ),
        (250, "2.0.0", "OK", "250 2.0.0 OK"),
        (452, "4.5.3", "Too many recipients", "452 4.5.3 Too many recipients"),
        (553, "5.1.3", "x", "553 5.1.3 x"),
        (554, "5.999.999", "max subject and detail", "554 5.999.999 max subject and detail"),
    ],
)
def test_valid_replies_render_their_line(code: int, enhanced: str, text: str, line: str) -> None:
    reply = Reply(code, enhanced, text)
    assert reply.line() == line
    assert str(reply) == line


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "message"),
    [
        (199, "1.0.0", "too low", "not in 2xx-5xx"),
        (600, "6.0.0", "too high", "not in 2xx-5xx"),
        (550, "4.7.1", "class differs", "differ in class"),
        (451, "5.3.0", "class differs", "differ in class"),
        (250, "5.0.0", "class differs", "differ in class"),
        (550, "5.7", "short", "malformed"),
        (550, "5.7.1.2", "long", "malformed"),
        (550, "5.1000.1", "subject too long", "malformed"),
        (550, "5.7.x", "letters", "malformed"),
        (550, "5.7.1 ", "trailing space", "malformed"),
        (550, "5.7.1", "", "printable ASCII"),
        (550, "5.7.1", "Recipient outside the MSSanté trust space", "printable ASCII"),
        (550, "5.7.1", "line\r\n250 injected", "printable ASCII"),
        (550, "5.7.1", "tab\tinside", "printable ASCII"),
        (550, "5.7.1", " leading space", "trimmed"),
    ],
)
def test_invalid_replies_raise(code: int, enhanced: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Reply(code, enhanced, text)


@pytest.mark.parametrize(
    ("reply", "soft_line"),
    [
        (Reply(550, "5.7.1", "No"), "450 4.7.1 No"),
        (Reply(553, "5.1.3", "Bad"), "453 4.1.3 Bad"),
        (Reply(552, "5.3.4", "Big"), "452 4.3.4 Big"),
        (Reply(452, "4.5.3", "Later"), "452 4.5.3 Later"),
        (Reply(250, "2.0.0", "OK"), "250 2.0.0 OK"),
    ],
)
def test_soft_turns_5xx_into_4xx_only(reply: Reply, soft_line: str) -> None:
    assert reply.soft().line() == soft_line


def test_reply_is_frozen() -> None:
    reply = Reply(550, "5.7.1", "No")
    with pytest.raises(AttributeError):
        reply.code = 250  # type: ignore[misc]


def test_smtp_reject_carries_reply_and_internal_reason() -> None:
    exc = SmtpReject(replies.UNKNOWN_RECIPIENT, "no BAL nobody@op-a.mssante.fr")
    assert exc.reply is replies.UNKNOWN_RECIPIENT
    assert exc.reason == "no BAL nobody@op-a.mssante.fr"
    assert "nobody@" not in exc.reply.line()


EXPECTED_CODES = {
    "TRUST_SPACE_RECIPIENT": (550, "5.7.1"),
    "NO_TRUST_LIST": (451, "4.3.0"),
    "UNKNOWN_RECIPIENT": (550, "5.1.1"),
    "MAILBOX_DISABLED": (550, "5.2.1"),
    "BAD_PATIENT_ADDRESS": (553, "5.1.3"),
    "TOO_MANY_RECIPIENTS": (452, "4.5.3"),
    "DAILY_RECIPIENT_BUDGET": (452, "4.5.3"),
    "MESSAGE_TOO_BIG": (552, "5.3.4"),
    "PATIENT_MESSAGE_TOO_BIG": (552, "5.3.4"),
    "SENDER_NOT_AUTHORISED": (553, "5.7.1"),
    "FROM_HEADER_MISMATCH": (550, "5.7.1"),
    "NULL_SENDER_NOT_REPORT": (550, "5.7.1"),
    "LOCAL_ERROR": (451, "4.3.0"),
    "AUTH_REQUIRED": (530, "5.7.0"),
    "RELAY_DENIED": (550, "5.7.1"),
}


@pytest.mark.parametrize(("name", "codes"), sorted(EXPECTED_CODES.items()))
def test_named_replies_have_the_agreed_codes(name: str, codes: tuple[int, str]) -> None:
    reply = getattr(replies, name)
    assert (reply.code, reply.enhanced) == codes


def test_every_reply_constant_is_listed_and_texts_are_distinct() -> None:
    listed = replies.ALL_REPLIES
    assert set(EXPECTED_CODES) <= set(listed)
    texts = [reply.text for reply in listed.values()]
    assert len(texts) == len(set(texts))
    assert replies.TOO_MANY_RECIPIENTS != replies.DAILY_RECIPIENT_BUDGET
