"""Properties of the RFC 3464 report builder (`message.dsn_report`): whatever the caller's
texts and the original's octets, the report parses as `multipart/report` with one field
group per recipient, and no line exceeds 998 octets.

Ref: RFC 3464 2, RFC 6522, RFC 5322 2.1.1; R22.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from message.dsn_report import Action, RecipientStatus, ReportRequest, build_report

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(final=_TEXT, diagnostic=_TEXT, envid=_TEXT, host=_TEXT,
       original=st.binary(max_size=300), action=st.sampled_from(list(Action)),
       full=st.booleans())
def test_any_report_parses_as_a_report_with_one_group_per_recipient(
        final: str, diagnostic: str, envid: str, host: str, original: bytes,
        action: Action, full: bool) -> None:
    statuses = (RecipientStatus(final, action, "2.0.0", diagnostic=diagnostic or None),
                RecipientStatus("b@x", Action.FAILED, "5.0.0"))
    raw = build_report(ReportRequest(reporting_mta=host, sender="a@x", recipients=statuses,
                                     original=original, arrival=NOW, now=NOW, full=full,
                                     envid=envid))
    report = email.message_from_bytes(raw, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    human, status, _returned = report.get_payload()  # type: ignore[misc]
    assert human.get_content_type() == "text/plain"
    if status.get_content_type() == "message/global-delivery-status":  # RFC 6533: UTF-8
        assert not final.isascii()
        body = raw.split(b"Content-Type: message/global-delivery-status\r\n"
                         b"Content-Transfer-Encoding: 8bit\r\n\r\n", 1)[1]
        texts = body.split(b"\r\n--=_report_", 1)[0].decode().rstrip("\r\n").split("\r\n\r\n")
        groups = [email.message_from_string(t + "\r\n\r\n") for t in texts]
    else:
        assert status.get_content_type() == "message/delivery-status"
        groups = status.get_payload()
    assert len(groups) == 3
    assert [g["Action"] for g in groups[1:]] == [action.value, "failed"]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
