"""Verdict construction and its action/reply invariants."""

from __future__ import annotations

import pytest

from policy import replies
from policy.reply import Reply, SmtpReject
from policy.verdict import Action, Verdict
from smtp_gateway.gate import refusal


@pytest.mark.parametrize(
    ("verdict", "action", "refuses"),
    [
        (Verdict.reject("r", replies.UNKNOWN_RECIPIENT, "why"), Action.REJECT, True),
        (Verdict.tempfail("r", replies.NO_TRUST_LIST, "why"), Action.TEMPFAIL, True),
        (Verdict.refuse("r", replies.TOO_MANY_RECIPIENTS, "why"), Action.TEMPFAIL, True),
        (Verdict.refuse("r", replies.MESSAGE_TOO_BIG, "why"), Action.REJECT, True),
        (Verdict.audit("r", "why"), Action.ACCEPT, False),
    ],
)
def test_helpers_set_action(verdict: Verdict, action: Action, refuses: bool) -> None:
    assert verdict.action is action
    assert verdict.refuses is refuses
    assert verdict.rule == "r"
    assert verdict.reason == "why"


@pytest.mark.parametrize(
    ("action", "reply", "rule"),
    [
        (Action.REJECT, replies.NO_TRUST_LIST, "r"),
        (Action.REJECT, None, "r"),
        (Action.TEMPFAIL, replies.UNKNOWN_RECIPIENT, "r"),
        (Action.TEMPFAIL, None, "r"),
        (Action.ACCEPT, replies.UNKNOWN_RECIPIENT, "r"),
        (Action.ACCEPT, Reply(250, "2.0.0", "OK"), "r"),
        (Action.REJECT, replies.UNKNOWN_RECIPIENT, ""),
    ],
)
def test_inconsistent_verdicts_raise(action: Action, reply: Reply | None, rule: str) -> None:
    with pytest.raises(ValueError):
        Verdict(action, reply, rule, "reason")


def test_the_gate_refusal_keeps_reason_internal() -> None:
    verdict = Verdict.reject("trust_space", replies.TRUST_SPACE_RECIPIENT, "x@gmail.com")
    exc = refusal(verdict, None)
    assert isinstance(exc, SmtpReject)
    assert exc.reply is replies.TRUST_SPACE_RECIPIENT
    assert exc.reason == "trust_space: x@gmail.com (trustlist none)"
    assert "gmail" not in exc.reply.line()
    with pytest.raises(ValueError):
        refusal(Verdict.audit("r", "note"), None)


def test_the_actions_are_accept_reject_and_tempfail() -> None:
    assert {action.value for action in Action} == {"accept", "reject", "tempfail"}
