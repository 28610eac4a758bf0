"""Rule dkim (R4): each DKIM outcome's verdict, and the rule's modes through the engine
(`warn` by default: audited and accepted; `enforce`: refused).

Ref: RFC 6376 6.1, RFC 7372 3.1; R4.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from policy import replies
from policy.context import Stage
from policy.dkim import NAME, check
from policy.engine import Mode, PolicyEngine
from policy.reply import Reply
from policy.rules import DEFAULT_RULES
from policy.verdict import Action

from .factories import data, mx_session


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str = "fail d=op-b.mssante.fr s=mss (signature did not verify)"


@pytest.mark.parametrize(("status", "action", "reply"), [
    ("pass", None, None), ("none", None, None),
    ("fail", Action.REJECT, replies.DKIM_FAILED),
    ("permerror", Action.REJECT, replies.DKIM_FAILED),
    ("temperror", Action.TEMPFAIL, replies.DKIM_UNAVAILABLE)])
def test_outcomes(status: str, action: Action | None, reply: Reply | None) -> None:
    verdict = check(data(session=mx_session(), dkim=Outcome(status)))
    assert (verdict.action if verdict else None) == action
    assert (verdict.reply if verdict else None) == reply
    if verdict is not None:
        assert verdict.rule == NAME and "op-b.mssante.fr" in verdict.reason
    assert check(data()) is None  # nothing verified (submission)


def test_warn_by_default_enforce_refuses() -> None:
    ctx = data(session=mx_session(), dkim=Outcome("fail"))
    by_default = PolicyEngine(DEFAULT_RULES, {}).evaluate(Stage.DATA, ctx)
    assert by_default.verdict is None
    assert [w.rule for w in by_default.warnings] == [NAME]
    enforced = PolicyEngine(DEFAULT_RULES, {NAME: Mode.ENFORCE}).evaluate(Stage.DATA, ctx)
    assert enforced.verdict is not None and enforced.verdict.reply == replies.DKIM_FAILED
    assert replies.DKIM_FAILED.line() == "550 5.7.20 No passing DKIM signature found"
