"""The rule registry and end-to-end stage evaluations with DEFAULT_RULES."""

from __future__ import annotations

from typing import Any

import pytest

from policy import replies
from policy.context import Stage
from policy.engine import Mode, PolicyEngine
from policy.reply import Reply
from policy.rules import DEFAULT_RULES, RULE_NAMES
from tests.unit.policy.factories import (
    DN_A,
    VALID_PATIENT,
    answer,
    data,
    mail,
    mx_session,
    rcpt,
    session,
)


def test_registry_order_and_default_modes() -> None:
    table = [(spec.stage.value, spec.name, spec.default_mode.value) for spec in DEFAULT_RULES]
    assert table == [
        ("mail", "sender_authorised", "enforce"),
        ("mail", "trust_space_sender", "enforce"),
        ("mail", "operator_certificate", "enforce"),
        ("mail", "message_size", "enforce"),
        ("rcpt", "no_relay", "enforce"),
        ("rcpt", "recipient_limit", "enforce"),
        ("rcpt", "trust_space", "enforce"),
        ("rcpt", "patient_address", "enforce"),
        ("rcpt", "local_recipient", "enforce"),
        ("rcpt", "mailbox_quota", "enforce"),
        ("rcpt", "patient_message_size", "enforce"),
        ("rcpt", "daily_recipient_budget", "enforce"),
        ("data", "null_sender", "enforce"),
        ("data", "from_header", "enforce"),
        ("data", "message_size", "enforce"),
        ("data", "patient_message_size", "enforce"),
        ("data", "recipient_justify", "enforce"),
        ("data", "mss_headers", "warn"),
        ("data", "attachments", "enforce"),
        ("data", "antivirus", "enforce"),
        ("data", "dkim", "warn"),
    ]
    assert len(RULE_NAMES) == len(set(RULE_NAMES)) == 19
    assert all(callable(spec.check) for spec in DEFAULT_RULES)


def test_every_rule_can_be_turned_off() -> None:
    engine = PolicyEngine(DEFAULT_RULES, {name: Mode.OFF for name in RULE_NAMES})
    hostile = rcpt("x@gmail.com", session=mx_session(peer_cert_dn=None), trust_list=None)
    assert engine.evaluate(Stage.RCPT, hostile).verdict is None


ENGINE = PolicyEngine(DEFAULT_RULES)


@pytest.mark.parametrize(
    ("case", "stage", "ctx", "reply"),
    [
        (
            "T4 MX sender ok",
            Stage.MAIL,
            mail(session=mx_session(), mail_from="x@op-b.mssante.fr"),
            None,
        ),
        (
            "T4 MX rcpt ok",
            Stage.RCPT,
            rcpt("dr.x@op-a.mssante.fr", session=mx_session(), mail_from="x@op-b.mssante.fr"),
            None,
        ),
        (
            "T5 not whitelisted",
            Stage.MAIL,
            mail(session=mx_session(), mail_from="x@gmail.com"),
            replies.TRUST_SPACE_SENDER,
        ),
        (
            "T6 DN of another domain",
            Stage.MAIL,
            mail(session=mx_session(peer_cert_dn=DN_A), mail_from="x@op-b.mssante.fr"),
            replies.OPERATOR_DN_MISMATCH,
        ),
        (
            "T8 unknown local",
            Stage.RCPT,
            rcpt(
                "nobody@op-a.mssante.fr",
                session=mx_session(),
                mail_from="x@op-b.mssante.fr",
                recipient_local_state="unknown",
            ),
            replies.UNKNOWN_RECIPIENT,
        ),
        ("T10 apicrypt", Stage.RCPT, rcpt("x@mssante.apicrypt.org"), None),
        ("T15 outside", Stage.RCPT, rcpt("someone@laposte.net"), replies.TRUST_SPACE_RECIPIENT),
        ("T22 patient", Stage.RCPT, rcpt(VALID_PATIENT), None),
        (
            "T31 deleted BAL",
            Stage.RCPT,
            rcpt("gone@op-a.mssante.fr", recipient_local_state="unknown"),
            replies.UNKNOWN_RECIPIENT,
        ),
        (
            "no list, remote",
            Stage.RCPT,
            rcpt("dr.y@op-b.mssante.fr", trust_list=None),
            replies.NO_TRUST_LIST,
        ),
        ("no list, local", Stage.RCPT, rcpt("dr.z@op-a.mssante.fr", trust_list=None), None),
        (
            "MX open relay",
            Stage.RCPT,
            rcpt("x@gmail.com", session=mx_session(), mail_from="x@op-b.mssante.fr"),
            replies.RELAY_DENIED,
        ),
        (
            "spoofed sender",
            Stage.MAIL,
            mail(mail_from="boss@op-a.mssante.fr"),
            replies.SENDER_NOT_AUTHORISED,
        ),
        (
            "spoofed From",
            Stage.DATA,
            data(headers=(("From", "boss@op-a.mssante.fr"),)),
            replies.FROM_HEADER_MISMATCH,
        ),
        ("plain message", Stage.DATA, data(), None),
    ],
)
def test_default_engine_acceptance(case: str, stage: Stage, ctx: Any, reply: Reply | None) -> None:
    assert answer(ENGINE.evaluate(stage, ctx)) is reply, case


def test_soft_bounce_over_the_default_rules() -> None:
    engine = PolicyEngine(DEFAULT_RULES, soft_bounce=True)
    outcome = engine.evaluate(Stage.RCPT, rcpt("someone@laposte.net"))
    assert (reply := answer(outcome)) is not None and reply.line() == (
        "450 4.7.1 Recipient outside the MSSante trust space"
    )


def test_warn_mode_accepts_but_reports_what_it_would_refuse() -> None:
    engine = PolicyEngine(DEFAULT_RULES, {"trust_space": "warn"})
    outcome = engine.evaluate(Stage.RCPT, rcpt("someone@laposte.net"))
    assert outcome.verdict is None
    assert [(w.rule, w.reply) for w in outcome.warnings] == [
        ("trust_space", replies.TRUST_SPACE_RECIPIENT)
    ]


def test_unauthenticated_submission_is_stopped_at_mail() -> None:
    anon = session(authenticated_bal=None, bal_type=None, granted_bals=frozenset(), person=None)
    assert answer(ENGINE.evaluate(Stage.MAIL, mail(session=anon))) is replies.AUTH_REQUIRED
