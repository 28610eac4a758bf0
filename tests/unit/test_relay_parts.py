"""The relay's pure parts: backoff, routes, the Return-Path removal, its reports
(which NOTIFY asks for, RET, ENVID, ORCPT, never one for a report), the DSN
parameters passed on, and the `[relay]` keys' validation.

Ref: RFC 5321 4.4, 4.5.4.1, 5.1; RFC 3461 4, 5.2, 6.2; RFC 3464; RFC 3834.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imap_store.store.outbound import QueuedMessage
from message.dsn_params import encode_recipients, parse_rcpt_dsn
from message.dsn_report import Action
from server.config import ConfigError, load
from smtp_gateway.relay.client import without_return_path
from smtp_gateway.relay.notice import EXPIRED, EXPIRED_STATUS, Outcome, expired, relay_report
from smtp_gateway.relay.routing import Route, parse_route, routes_for
from smtp_gateway.relay.worker import RelaySettings, envelope_of, xtext


def test_backoff_doubles_from_base_to_max() -> None:
    s = RelaySettings(retry_base=60, retry_max=600)
    assert [s.backoff(n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


async def test_transport_routes_first() -> None:
    assert await routes_for("op-b.mssante.fr", {"op-b.mssante.fr": "10.0.0.2:2525"}) == [
        Route("10.0.0.2", 2525)]
    assert parse_route("[::1]:25") == Route("::1", 25)
    for bad in ("host", "host:", ":25", "host:0", "host:70000", "host:x"):
        with pytest.raises(ValueError):
            parse_route(bad)


def test_only_our_leading_return_path_is_removed() -> None:
    assert without_return_path(b"Return-Path: <a@b>\r\nReceived: x\r\n\r\nbody") == (
        b"Received: x\r\n\r\nbody")
    kept = b"Received: x\r\nReturn-Path: <a@b>\r\n\r\nbody"
    assert without_return_path(kept) == kept


def _row(dsn_recipients: str | None = None, mail_from: str = "alice@op-a.mssante.fr",
         ret: str | None = None, envid: str | None = None) -> QueuedMessage:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return QueuedMessage(id=7, content_id="c", bal_id=1, domain="op-b.mssante.fr",
                         mail_from=mail_from, recipients=("bob@op-b.mssante.fr",),
                         created_at=when, next_attempt_at=when, attempts=1, last_error=None,
                         claimed_until=None, size=10, dsn_ret=ret, dsn_envid=envid,
                         dsn_recipients=dsn_recipients)


ORIGINAL = b"Subject: secret plans\r\nX-A: a\r\n\r\nBODY-TEXT\r\n"
NOW = datetime(2026, 1, 2, tzinfo=UTC)
BOB = "bob@op-b.mssante.fr"


def _report(item: QueuedMessage, action: Action, outcome: Outcome) -> bytes | None:
    return relay_report(item, action, [outcome], original=ORIGINAL, hostname="mx.op-a",
                        now=NOW, retry_until=NOW)


def test_failure_report_is_rfc3464_and_quotes_the_header_section_only() -> None:
    raw = _report(_row(), Action.FAILED, Outcome(BOB, reply="550 5.1.1 unknown",
                                                 remote_mta="mx.op-b"))
    assert raw is not None and b"BODY-TEXT" not in raw
    msg = email.message_from_bytes(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Auto-Submitted"] == "auto-replied" and msg["To"] == "<alice@op-a.mssante.fr>"
    text, status, returned = msg.get_payload()
    human = text.get_payload(decode=True).decode()
    assert "n'a pas pu être remis" in human and "could not be delivered" in human
    groups = status.get_payload()
    assert groups[1]["Final-Recipient"] == f"rfc822; {BOB}" and groups[1]["Action"] == "failed"
    assert groups[1]["Status"] == "5.1.1" and groups[1]["Remote-MTA"] == "dns; mx.op-b"
    assert groups[1]["Diagnostic-Code"] == "smtp; 550 5.1.1 unknown"
    assert returned.get_content_type() == "text/rfc822-headers"


def test_expiry_report_says_our_reason_with_status_4_4_7() -> None:
    raw = relay_report(_row(), Action.FAILED, expired([BOB]), original=ORIGINAL,
                       hostname="mx.op-a", now=NOW)
    assert raw is not None
    groups = email.message_from_bytes(raw).get_payload()[1].get_payload()
    assert groups[1]["Status"] == EXPIRED_STATUS
    assert groups[1]["Diagnostic-Code"] == f"x-mss; {EXPIRED}"


def test_ret_full_envid_and_orcpt_are_honoured() -> None:
    params = encode_recipients({BOB: parse_rcpt_dsn({"NOTIFY": "FAILURE",
                                                     "ORCPT": "rfc822;Bob+40x"})})
    raw = _report(_row(params, ret="FULL", envid="QQ+2B314"), Action.FAILED,
                  Outcome(BOB, reply="554 5.0.0 no"))
    assert raw is not None and b"BODY-TEXT" in raw
    msg = email.message_from_bytes(raw)
    groups = msg.get_payload()[1].get_payload()
    assert groups[0]["Original-Envelope-Id"] == "QQ+314"
    assert groups[1]["Original-Recipient"] == "rfc822;Bob@x"
    assert msg.get_payload()[2].get_content_type() == "message/rfc822"


@pytest.mark.parametrize(("notify", "action", "owed"), [
    (None, Action.FAILED, True), (None, Action.DELAYED, True), (None, Action.RELAYED, False),
    ("NEVER", Action.FAILED, False), ("NEVER", Action.DELAYED, False),
    ("SUCCESS", Action.FAILED, False), ("SUCCESS", Action.RELAYED, True),
    ("FAILURE", Action.DELAYED, False), ("DELAY,FAILURE", Action.DELAYED, True),
])
def test_notify_decides_which_reports_are_owed(notify: str | None, action: Action,
                                               owed: bool) -> None:
    params = None if notify is None else encode_recipients(
        {BOB: parse_rcpt_dsn({"NOTIFY": notify})})
    assert (_report(_row(params), action, Outcome(BOB)) is not None) is owed


def test_a_message_from_the_null_sender_never_gets_a_report() -> None:
    params = encode_recipients({BOB: parse_rcpt_dsn({"NOTIFY": "SUCCESS,FAILURE,DELAY"})})
    for action in (Action.FAILED, Action.DELAYED, Action.RELAYED):
        assert _report(_row(params, mail_from=""), action, Outcome(BOB)) is None


def test_dsn_parameters_are_passed_on_as_written() -> None:
    params = encode_recipients({BOB: parse_rcpt_dsn({"NOTIFY": "success,Delay",
                                                     "ORCPT": "rfc822;Bob+40x"})})
    env = envelope_of(_row(params, ret="HDRS", envid="QQ314159"))
    assert env.mail_dsn == ("RET=HDRS", "ENVID=QQ314159")
    assert env.rcpt_dsn == {BOB: ("NOTIFY=DELAY,SUCCESS", "ORCPT=rfc822;Bob+40x")}
    never = encode_recipients({BOB: parse_rcpt_dsn({"NOTIFY": "NEVER"})})
    assert envelope_of(_row(never)).rcpt_dsn == {BOB: ("NOTIFY=NEVER", f"ORCPT=rfc822;{BOB}")}
    assert envelope_of(_row()).mail_dsn == ()
    assert envelope_of(_row()).rcpt_dsn == {BOB: (f"ORCPT=rfc822;{BOB}",)}  # RFC 3461 4.2
    assert xtext("a+b=c@x y") == "a+2Bb+3Dc@x+20y"


@pytest.mark.parametrize(("keys", "named"), [
    ("connections = 0", "relay.connections"),
    ("timeout = 600\nlease = 1000", "relay.lease"),
    ('transport = { "op-b.mssante.fr" = "nohost" }', "relay.transport.op-b.mssante.fr"),
])
def test_bad_relay_keys_name_the_key(tmp_path: Path, keys: str, named: str) -> None:
    path = tmp_path / "mss.toml"
    path.write_text(f'[server]\ndomains = ["op-a.mssante.fr"]\n[relay]\n{keys}\n')
    with pytest.raises(ConfigError, match=named):
        load(path)
