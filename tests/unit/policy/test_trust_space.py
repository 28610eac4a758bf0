"""Rules trust_space (RCPT, R3), trust_space_sender and operator_certificate (MAIL, R1, R4)."""

from __future__ import annotations

from typing import Any

import pytest

from policy import replies
from policy.operator_dn import parse_dn
from policy.reply import Reply
from policy.trust_space import check, check_operator_dn, check_sender
from tests.unit.policy.factories import DN_A, DN_APICRYPT, DN_B, mail, mx_session, rcpt, session


@pytest.mark.parametrize(
    ("recipient", "overrides", "reply"),
    [
        ("dr.y@op-b.mssante.fr", {}, None),
        ("dr.y@OP-B.MSSANTE.FR", {}, None),
        ("x@mssante.apicrypt.org", {}, None),
        ("185057512345673@patient.mssante.fr", {}, None),
        ("dr.z@op-a.mssante.fr", {}, None),
        ("someone@laposte.net", {}, replies.TRUST_SPACE_RECIPIENT),
        ("x@evil-mssante.fr", {}, replies.TRUST_SPACE_RECIPIENT),
        ("x@op-b.mssante.fr.evil.com", {}, replies.TRUST_SPACE_RECIPIENT),
        ("x@sub.op-b.mssante.fr", {}, replies.TRUST_SPACE_RECIPIENT),
        ("x@op-b.mssante.fr.", {}, replies.TRUST_SPACE_RECIPIENT),
        ("no-at-sign", {}, replies.TRUST_SPACE_RECIPIENT),
        ('"a@op-b.mssante.fr"@gmail.com', {}, replies.TRUST_SPACE_RECIPIENT),
        ("dr.y@op-b.mssante.fr", {"trust_list": None}, replies.NO_TRUST_LIST),
        ("someone@laposte.net", {"trust_list": None}, replies.NO_TRUST_LIST),
        ("dr.z@op-a.mssante.fr", {"trust_list": None}, None),
        ("dr.z@OP-A.mssante.fr", {"trust_list": None}, None),
        ("x@op-c.mssante.fr", {"local_domains": frozenset({"OP-C.mssante.fr"})}, None),
    ],
)
def test_recipient_trust_space(
    recipient: str, overrides: dict[str, Any], reply: Reply | None
) -> None:
    verdict = check(rcpt(recipient, **overrides))
    assert (verdict.reply if verdict else None) is reply
    if verdict is not None:
        assert verdict.rule == "trust_space"
        assert recipient in verdict.reason or "no trust list" in verdict.reason


def test_rejection_reason_names_the_list_version() -> None:
    verdict = check(rcpt("someone@laposte.net"))
    assert verdict is not None and "2025-03-13T14:54:10Z#abababababab" in verdict.reason


@pytest.mark.parametrize(
    ("overrides", "reply"),
    [
        ({"session": mx_session(), "mail_from": "x@op-b.mssante.fr"}, None),
        ({"session": mx_session(), "mail_from": "x@MSSANTE.APICRYPT.ORG"}, None),
        ({"session": mx_session(), "mail_from": "x@gmail.com"}, replies.TRUST_SPACE_SENDER),
        (
            {"session": mx_session(), "mail_from": "x@op-b.mssante.fr.evil.com"},
            replies.TRUST_SPACE_SENDER,
        ),
        ({"session": mx_session(), "mail_from": ""}, None),
        (
            {"session": mx_session(), "mail_from": "x@op-b.mssante.fr", "trust_list": None},
            replies.NO_TRUST_LIST,
        ),
        ({"session": mx_session(), "mail_from": "x@op-a.mssante.fr", "trust_list": None}, None),
        ({"session": session(), "mail_from": "x@gmail.com"}, None),
    ],
)
def test_sender_trust_space_on_mx(overrides: dict[str, Any], reply: Reply | None) -> None:
    verdict = check_sender(mail(**overrides))
    assert (verdict.reply if verdict else None) is reply


@pytest.mark.parametrize(
    ("dn", "mail_from", "trust", "reply"),
    [
        (DN_B, "x@op-b.mssante.fr", True, None),
        (
            parse_dn("C=FR,ST=Gironde (33),O=OP B,OU=222,CN=mx.op-b.mssante.fr"),
            "x@op-b.mssante.fr",
            True,
            None,
        ),
        (DN_B, "x@OP-B.mssante.fr", True, None),
        (DN_APICRYPT, "x@mssante.apicrypt.org", True, None),
        (DN_B, "", True, None),
        (DN_A, "x@op-b.mssante.fr", True, replies.OPERATOR_DN_MISMATCH),
        (parse_dn("CN=evil,O=OP B,C=FR"), "x@op-b.mssante.fr", True, replies.OPERATOR_DN_MISMATCH),
        (parse_dn("CN=evil,O=OP B,C=FR"), "", True, replies.OPERATOR_DN_MISMATCH),
        (DN_B, "x@gmail.com", True, replies.OPERATOR_DN_MISMATCH),
        (None, "x@op-b.mssante.fr", True, replies.OPERATOR_CERT_REQUIRED),
        (DN_B, "x@op-b.mssante.fr", False, replies.NO_TRUST_LIST),
    ],
)
def test_operator_certificate_on_mx(
    dn: Any, mail_from: str, trust: bool, reply: Reply | None
) -> None:
    ctx = mail(session=mx_session(peer_cert_dn=dn), mail_from=mail_from)
    if not trust:
        ctx = mail(session=mx_session(peer_cert_dn=dn), mail_from=mail_from, trust_list=None)
    verdict = check_operator_dn(ctx)
    assert (verdict.reply if verdict else None) is reply


def test_operator_certificate_ignores_submission() -> None:
    assert check_operator_dn(mail(session=session(peer_cert_dn=None))) is None
