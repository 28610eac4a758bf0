"""Context construction: normalisation, validation, immutability, derivation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from policy.context import DataContext, PolicyLimits, RcptContext, SessionFacts
from tests.unit.policy.factories import DR_X, SECRETARIAT, data, mail, message, session


def test_session_lowercases_and_includes_the_authenticated_bal() -> None:
    facts = SessionFacts(
        peer_ip="192.0.2.1",
        listener="submission",
        authenticated_bal="Dr.X@OP-A.mssante.fr",
        granted_bals=frozenset({"Secretariat@OP-A.mssante.fr"}),
    )
    assert facts.authenticated_bal == DR_X
    assert facts.granted_bals == frozenset({DR_X, SECRETARIAT})
    assert facts.authenticated


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listener": "smtp"}, "listener"),
        ({"bal_type": "XYZ"}, "bal_type"),
    ],
)
def test_session_validation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        session(**overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_message_size": 0}, "positive"),
        ({"max_recipients": (("PER", 0),)}, "positive"),
        ({"justify_threshold": -1}, "justify_threshold"),
        ({"daily_recipient_budget": 0}, "daily_recipient_budget"),
    ],
)
def test_limits_validation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicyLimits(**overrides)


@pytest.mark.parametrize(
    ("bal_type", "cap"),
    [("PER", 50), ("ORG", 100), ("APP", 100), ("CAB", 100), (None, 100)],
)
def test_default_recipient_caps(bal_type: str | None, cap: int) -> None:
    assert PolicyLimits().recipient_cap(bal_type) == cap


def test_caps_given_as_a_mapping_are_frozen_into_pairs() -> None:
    limits = PolicyLimits(max_recipients={"PER": 5, "ORG": 7})  # type: ignore[arg-type]
    assert limits.max_recipients == (("PER", 5), ("ORG", 7))
    assert limits.recipient_cap("ORG") == 7 and limits.recipient_cap("APP") == 100


def test_defaults_match_the_architecture() -> None:
    limits = PolicyLimits()
    assert (limits.max_message_size, limits.patient_max_message_size) == (52_428_800, 25_000_000)
    assert limits.justify_threshold == 10 and limits.daily_recipient_budget is None


def test_contexts_are_frozen_and_hold_tuples() -> None:
    ctx = DataContext.from_mail(
        mail(local_domains=frozenset({"OP-A.mssante.fr"})),
        recipients=["a@op-b.mssante.fr"],
        message=message([("From", DR_X)]),
    )
    assert ctx.local_domains == frozenset({"op-a.mssante.fr"})
    assert ctx.recipients == ("a@op-b.mssante.fr",)
    assert ctx.message.headers == (("from", DR_X),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.size = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.message.author = ctx.message.sender  # type: ignore[misc]


def test_rcpt_context_derives_from_mail_context() -> None:
    base = mail(size_param=123)
    ctx = RcptContext.from_mail(base, recipient="a@op-b.mssante.fr", accepted_recipients=["x@y"])
    assert (ctx.session, ctx.mail_from, ctx.size_param, ctx.trust_list) == (
        base.session,
        base.mail_from,
        123,
        base.trust_list,
    )
    assert ctx.accepted_recipients == ("x@y",)
    with pytest.raises(ValueError, match="recipients_today"):
        RcptContext.from_mail(base, recipient="a@b", recipients_today=-1)


@pytest.mark.parametrize(
    ("content_type", "mime_type", "report_type"),
    [
        ("multipart/report; report-type=delivery-status", "multipart/report", "delivery-status"),
        (
            'Multipart/Report; Report-Type="Disposition-Notification"',
            "multipart/report",
            "disposition-notification",
        ),
        ("text/plain", "text/plain", None),
        ("", "text/plain", None),
        ("garbage", "text/plain", None),
    ],
)
def test_content_type_facts(content_type: str, mime_type: str, report_type: str | None) -> None:
    ctx = data(content_type=content_type)
    assert ctx.message.mime_type == mime_type
    assert ctx.message.report_type == report_type


def test_header_fields_are_lower_cased_and_ordered() -> None:
    ctx = data(headers=(("From", "a"), ("X", "1"), ("FROM", "b")), content_type="")
    assert ctx.message.headers == (("from", "a"), ("x", "1"), ("from", "b"))
    assert ctx.message.author.count == 2 and ctx.message.author.mailboxes == ()
    assert ctx.message.sender.count == 0
