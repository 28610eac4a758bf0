"""DSN parameters (RFC 3461): xtext, RET/ENVID/NOTIFY/ORCPT values, the queue codec,
and how the gateway takes them out of a MAIL/RCPT argument.

Ref: RFC 3461 4 (xtext), 4.1-4.4; R22.
"""

from __future__ import annotations

import pytest

from message.dsn_params import (
    DsnParamError,
    MailDsn,
    Notify,
    RcptDsn,
    Ret,
    decode_recipients,
    encode_recipients,
    is_xtext,
    parse_mail_dsn,
    parse_rcpt_dsn,
    xtext_decode,
)
from smtp_gateway.dsn import DsnRequest, take_dsn_params
from smtp_gateway.protocol import advertise


@pytest.mark.parametrize(("xtext", "text"), [
    ("QQ314159", "QQ314159"), ("a+2Bb", "a+b"), ("a+3Db", "a=b"), ("+20", " "),
    ("caf+C3+A9", "café"), ("", "")])
def test_xtext_decodes(xtext: str, text: str) -> None:
    assert xtext_decode(xtext) == text


@pytest.mark.parametrize("bad", ["a+2b", "a+2", "a=b", "a+", "a b", "é", "+ZZ", "+C3"])
def test_malformed_xtext_refused(bad: str) -> None:
    with pytest.raises(DsnParamError):
        xtext_decode(bad)


def test_xtext_alphabet() -> None:
    allowed = [chr(c) for c in range(0x21, 0x7F) if chr(c) not in "+="]
    assert all(is_xtext(c) for c in allowed)
    assert not any(is_xtext(c) for c in ["+", "=", " ", "\x7f", "\x1f"])


def test_mail_parameters_keep_envid_as_written() -> None:
    dsn = parse_mail_dsn({"RET": "hdrs", "ENVID": "Ab+2Bc"})
    assert dsn == MailDsn(Ret.HDRS, "Ab+2Bc")
    assert dsn.envid_text == "Ab+c"
    assert parse_mail_dsn({}) == MailDsn()


@pytest.mark.parametrize("params", [
    {"RET": "ALL"}, {"RET": ""}, {"ENVID": ""}, {"ENVID": "x" * 101}, {"ENVID": "a+00"},
    {"ENVID": "a+C3+A9"}])
def test_malformed_mail_parameters(params: dict[str, str]) -> None:
    with pytest.raises(DsnParamError):
        parse_mail_dsn(params)


def test_rcpt_parameters() -> None:
    dsn = parse_rcpt_dsn({"NOTIFY": "success,Failure", "ORCPT": "rfc822;Dr.B+2Bx@Y"})
    assert dsn.notify == {Notify.SUCCESS, Notify.FAILURE}
    assert dsn.orcpt == "rfc822;Dr.B+2Bx@Y"
    assert dsn.orcpt_text == "rfc822;Dr.B+x@Y"
    assert parse_rcpt_dsn({"NOTIFY": "NEVER"}).notify == frozenset()
    assert parse_rcpt_dsn({"ORCPT": "utf-8;caf+C3+A9@x"}).orcpt_text == "utf-8;café@x"


@pytest.mark.parametrize("params", [
    {"NOTIFY": "NEVER,SUCCESS"}, {"NOTIFY": ""}, {"NOTIFY": "SUCCESS,"},
    {"NOTIFY": "DELAY,DELAY"}, {"ORCPT": "b@x"}, {"ORCPT": ";b@x"}, {"ORCPT": "rfc822;"},
    {"ORCPT": "rfc 822;b"}, {"ORCPT": "rfc822;" + "b" * 501}, {"ORCPT": "rfc822;caf+C3+A9"}])
def test_malformed_rcpt_parameters(params: dict[str, str]) -> None:
    with pytest.raises(DsnParamError):
        parse_rcpt_dsn(params)


def test_what_notify_asks_for() -> None:
    absent, never = RcptDsn(), RcptDsn(frozenset())
    success = RcptDsn(frozenset({Notify.SUCCESS}))
    assert [absent.wants(c) for c in Notify] == [False, True, True]
    assert [never.wants(c) for c in Notify] == [False, False, False]
    assert [success.wants(c) for c in Notify] == [True, False, False]


def test_queue_codec_round_trip() -> None:
    recipients = {"b@x": RcptDsn(frozenset({Notify.DELAY, Notify.SUCCESS}), "rfc822;B@x"),
                  "c@x": RcptDsn(frozenset()), "d@x": RcptDsn(None, "rfc822;d@x"),
                  "e@x": RcptDsn()}
    text = encode_recipients(recipients)
    assert text is not None
    decoded = decode_recipients(text)
    assert decoded == {k: v for k, v in recipients.items() if k != "e@x"}
    assert encode_recipients({"e@x": RcptDsn()}) is None
    assert decode_recipients(None) == {}


def test_take_dsn_params_keeps_the_others_and_the_case() -> None:
    rest, found = take_dsn_params(" SIZE=10 ret=hdrs BODY=8BITMIME EnvId=QqXy")
    assert rest == "SIZE=10 BODY=8BITMIME"
    assert found == {"RET": "hdrs", "ENVID": "QqXy"}
    for bad in (" RET", " RET=", " NOTIFY=NEVER notify=SUCCESS"):
        with pytest.raises(DsnParamError):
            take_dsn_params(bad)


def test_request_keeps_the_first_rcpt_of_a_repeated_recipient() -> None:
    request = DsnRequest()
    first = RcptDsn(frozenset({Notify.SUCCESS}))
    request.add_recipient("Bob@X", first)
    request.add_recipient("bob@x", RcptDsn(frozenset()))
    request.add_recipient("carol@x", RcptDsn())
    assert request.of("BOB@x") == first
    assert request.recipients == {"bob@x": first}


def test_ehlo_extensions_added_once_before_the_last_line() -> None:
    lines = ["250-host", "250-SIZE 10", "250-8BITMIME", "250-PIPELINING", "250 HELP"]
    assert advertise(lines) == ["250-host", "250-SIZE 10", "250-8BITMIME", "250-PIPELINING",
                                "250-ENHANCEDSTATUSCODES", "250-DSN", "250 HELP"]
    assert advertise(["501 Syntax: EHLO hostname"]) == ["501 Syntax: EHLO hostname"]
