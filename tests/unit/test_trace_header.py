"""Intake's trace header and recipient plan: the `Received:` date in the zone of the time
given, and each mailbox once.

Ref: RFC 5321 3.3, 4.4; RFC 5322 3.3.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from message.facts import read_facts
from smtp_gateway.intake import (
    AcceptedMail,
    LocalRecipient,
    TraceInfo,
    _received,
    distinct_recipients,
)

TRACE = TraceInfo(helo="client.test", peer_ip="192.0.2.1", protocol="ESMTPSA", session="s1")


def test_the_received_date_is_written_in_the_zone_of_the_time_given() -> None:
    now = datetime(2026, 3, 1, 12, 30, 5, 250_000, tzinfo=UTC)
    paris = now.astimezone(timezone(timedelta(hours=1)))
    for when in (now, paris, now + timedelta(microseconds=500_000), paris, now):
        field = _received("mx.test", TRACE, when).decode()
        assert field.endswith(f"\r\n\t{format_datetime(when)}\r\n")
    assert format_datetime(now) != format_datetime(paris)
    later = _received("mx.test", TRACE, now + timedelta(seconds=1)).decode()
    assert later.endswith("12:30:06 +0000\r\n")


def test_each_mailbox_once_and_the_same_plan_when_none_repeats() -> None:
    mail = AcceptedMail(
        mail_from="a@op-a.test", owner_bal_id=1,
        local=(LocalRecipient("b@op-a.test", 2), LocalRecipient("B@op-a.test", 2)),
        remote=("c@op-b.test", "C@OP-B.test", "d@op-b.test"),
        content=b"Subject: x\r\n\r\n", facts=read_facts(b"Subject: x\r\n\r\n"), trace=TRACE)
    once = distinct_recipients(mail)
    assert once.local == (LocalRecipient("b@op-a.test", 2),)
    assert once.remote == ("c@op-b.test", "d@op-b.test")
    assert distinct_recipients(once) is once
