"""The RFC 3464 report builder: structure as Python's `email` reads it, fields, RET,
the bilingual text, and that no caller value can add a line.

Ref: RFC 3464 2, RFC 6522, RFC 3461 4.3 (RET), 6.2; R22.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from message.dsn_params import MailDsn, Notify, RcptDsn, Ret
from message.dsn_report import Action, RecipientStatus, ReportRequest, build_report
from smtp_gateway.dsn import success_report

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ORIGINAL = (b"From: a@op-a.fr\r\nTo: b@op-b.fr\r\nSubject: Compte rendu\r\n"
            b"Message-ID: <m1@op-a.fr>\r\n\r\nCorps secret\r\n")


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _request(*recipients: RecipientStatus, full: bool = False,
             envid: str | None = None) -> ReportRequest:
    return ReportRequest(reporting_mta="mail.op-a.fr", sender="a@op-a.fr",
                         recipients=recipients, original=ORIGINAL, arrival=NOW, now=NOW,
                         full=full, envid=envid)


def test_failure_and_delay_report_for_the_relay() -> None:
    failed = RecipientStatus("b@op-b.fr", Action.FAILED, "5.1.1",
                             original_recipient="rfc822;B@op-b.fr", remote_mta="mx.op-b.fr",
                             diagnostic="550 5.1.1 User unknown", last_attempt=NOW)
    delayed = RecipientStatus("c@op-b.fr", Action.DELAYED, "4.4.7",
                              will_retry_until=NOW + timedelta(days=5))
    report = _parse(build_report(_request(failed, delayed, envid="E1")))
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert "=?utf-8?" in str(report["Subject"].defects) or "chec" in report["Subject"]
    human, status, returned = report.get_payload()  # type: ignore[misc]
    text = human.get_content()
    assert text.index("n'a pas pu être remis") < text.index("could not be delivered")
    assert "retardée" in text and "is delayed" in text and "550 5.1.1 User unknown" in text
    per_message, first, second = status.get_payload()
    assert per_message["Original-Envelope-Id"] == "E1"
    assert per_message["Reporting-MTA"] == "dns; mail.op-a.fr"
    assert per_message["Arrival-Date"] == "Sun, 29 Nov 2026 12:00:00 +0000"
    assert (first["Original-Recipient"], first["Final-Recipient"], first["Action"],
            first["Status"], first["Remote-MTA"], first["Diagnostic-Code"]) == (
        "rfc822;B@op-b.fr", "rfc822; b@op-b.fr", "failed", "5.1.1", "dns; mx.op-b.fr",
        "smtp; 550 5.1.1 User unknown")
    assert second["Action"] == "delayed" and second["Will-Retry-Until"]
    assert second["Original-Recipient"] is None and second["Remote-MTA"] is None
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Corps secret" not in returned.get_payload(decode=True)


def test_ret_full_returns_the_whole_message() -> None:
    report = _parse(build_report(_request(
        RecipientStatus("b@op-b.fr", Action.DELIVERED, "2.0.0"), full=True)))
    returned = report.get_payload()[2]  # type: ignore[index]
    assert returned.get_content_type() == "message/rfc822"
    inner = returned.get_payload()[0]
    assert inner["Subject"] == "Compte rendu" and "Corps secret" in inner.get_content()


def test_no_header_injection_from_caller_values() -> None:
    evil = RecipientStatus("b@x\r\nBcc: c@x", Action.FAILED, "5.0.0\r\nX: y",
                           diagnostic="550 no\r\nX-Injected: 1", remote_mta="mx\nX: 2")
    raw = build_report(ReportRequest(reporting_mta="h\r\nX-Evil: 1", sender="a@x\r\nCc: c@x",
                                     recipients=(evil,), original=ORIGINAL, arrival=NOW,
                                     now=NOW, envid="e\r\nX: 3"))
    report = _parse(raw)
    assert report["Bcc"] is None and report["Cc"] is None and report["X-Evil"] is None
    _, status, _ = report.get_payload()  # type: ignore[misc]
    for group in status.get_payload():
        assert group["X"] is None and group["X-Injected"] is None


def test_a_report_names_a_recipient() -> None:
    with pytest.raises(ValueError):
        build_report(_request())


def test_utf8_address_gives_a_global_status_part() -> None:
    report = _parse(build_report(_request(
        RecipientStatus("dr.é@op-b.fr", Action.FAILED, "5.6.7"))))
    status = report.get_payload()[1]  # type: ignore[index]
    assert status.get_content_type() == "message/global-delivery-status"


def test_success_report_only_when_asked_and_never_for_a_null_sender() -> None:
    def make(mail_from: str, recipients: dict[str, RcptDsn], mail: MailDsn = MailDsn()
             ) -> bytes | None:
        return success_report(reporting_mta="h", mail_from=mail_from,
                              delivered=["b@x", "c@x"], mail=mail, recipients=recipients,
                              original=ORIGINAL, arrival=NOW, now=NOW)
    success = RcptDsn(frozenset({Notify.SUCCESS}), "rfc822;B@x")
    assert make("a@x", {}) is None
    assert make("a@x", {"c@x": RcptDsn(frozenset())}) is None
    assert make("", {"b@x": success}) is None  # a report is never reported on
    raw = make("a@x", {"b@x": success}, MailDsn(Ret.FULL, "Q+2B1"))
    assert raw is not None
    _, status, returned = _parse(raw).get_payload()  # type: ignore[misc]
    per_message, only = status.get_payload()
    assert per_message["Original-Envelope-Id"] == "Q+1"
    assert (only["Final-Recipient"], only["Original-Recipient"]) == ("rfc822; b@x", "rfc822;B@x")
    assert returned.get_content_type() == "message/rfc822"
