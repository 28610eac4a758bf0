"""Rule mailbox_quota (R25): a full BAL, or a SIZE= beyond its room, gets 452 4.2.2."""

from __future__ import annotations

import pytest

from policy import replies
from policy.context import QuotaFacts, Stage
from policy.engine import PolicyEngine
from policy.quota import check
from policy.rules import DEFAULT_RULES
from tests.unit.policy.factories import answer, rcpt

BOB = "bob@op-a.mssante.fr"


@pytest.mark.parametrize(
    ("facts", "size", "refused"),
    [
        (None, None, False),  # remote recipient: no facts
        (QuotaFacts(10**9, 10**6), 10**9, False),  # no limits
        (QuotaFacts(999, 3, 1000, 0), None, False),
        (QuotaFacts(1000, 3, 1000, 0), None, True),  # bytes reached
        (QuotaFacts(1200, 3, 1000, 0), None, True),  # bytes exceeded (concurrent commits)
        (QuotaFacts(10, 4, 0, 5), None, False),
        (QuotaFacts(10, 5, 0, 5), None, True),  # messages reached
        (QuotaFacts(900, 3, 1000, 0), 100, False),  # SIZE fits exactly
        (QuotaFacts(900, 3, 1000, 0), 101, True),  # SIZE beyond the room left
        (QuotaFacts(900, 3, 0, 5), 10**9, False),  # no byte limit: SIZE is not a concern
    ],
)
def test_mailbox_quota(facts: QuotaFacts | None, size: int | None, refused: bool) -> None:
    verdict = check(rcpt(BOB, recipient_quota=facts, size_param=size))
    assert (verdict is not None) is refused
    if verdict is not None:
        assert verdict.reply is replies.MAILBOX_FULL and verdict.rule == "mailbox_quota"
        assert (verdict.reply.code, verdict.reply.enhanced) == (452, "4.2.2")
        assert BOB in verdict.reason


def test_registered_at_rcpt_and_temporary_even_with_soft_bounce() -> None:
    full = rcpt(BOB, recipient_quota=QuotaFacts(5, 5, 0, 5))
    assert answer(PolicyEngine(DEFAULT_RULES).evaluate(Stage.RCPT, full)) is replies.MAILBOX_FULL
    soft = PolicyEngine(DEFAULT_RULES, soft_bounce=True).evaluate(Stage.RCPT, full)
    assert answer(soft) is replies.MAILBOX_FULL
    assert answer(PolicyEngine(DEFAULT_RULES, {"mailbox_quota": "warn"}).evaluate(
        Stage.RCPT, full)) is None


def test_negative_facts_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="quota facts"):
        QuotaFacts(-1, 0)
