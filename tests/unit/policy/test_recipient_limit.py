"""Rules recipient_limit, daily_recipient_budget and recipient_justify (R18)."""

from __future__ import annotations

from typing import Any

import pytest

from policy import replies
from policy.context import PolicyLimits, Stage
from policy.engine import PolicyEngine
from policy.recipient_limit import check, check_daily_budget, check_justify
from policy.reply import Reply
from policy.rules import DEFAULT_RULES
from policy.verdict import Action
from tests.unit.policy.factories import answer, data, mx_session, rcpt, session


def addresses(count: int, domain: str = "op-b.mssante.fr") -> tuple[str, ...]:
    return tuple(f"r{i}@{domain}" for i in range(count))


@pytest.mark.parametrize(
    ("bal_type", "already", "recipient", "reply"),
    [
        ("PER", 0, "new@op-b.mssante.fr", None),
        ("PER", 49, "new@op-b.mssante.fr", None),
        ("PER", 50, "new@op-b.mssante.fr", replies.TOO_MANY_RECIPIENTS),
        ("PER", 50, "r3@op-b.mssante.fr", None),
        ("PER", 50, "R3@OP-B.mssante.fr", None),
        ("ORG", 50, "new@op-b.mssante.fr", None),
        ("ORG", 99, "new@op-b.mssante.fr", None),
        ("ORG", 100, "new@op-b.mssante.fr", replies.TOO_MANY_RECIPIENTS),
        ("APP", 100, "new@op-b.mssante.fr", replies.TOO_MANY_RECIPIENTS),
        ("CAB", 99, "new@op-b.mssante.fr", None),
    ],
)
def test_per_transaction_cap(
    bal_type: str, already: int, recipient: str, reply: Reply | None
) -> None:
    ctx = rcpt(
        recipient, session=session(bal_type=bal_type), accepted_recipients=addresses(already)
    )
    verdict = check(ctx)
    assert (verdict.reply if verdict else None) is reply
    if verdict is not None:
        assert verdict.action is Action.TEMPFAIL and str(already + 1) in verdict.reason


def test_duplicates_in_accepted_recipients_count_once() -> None:
    accepted = addresses(49) + ("R0@op-b.mssante.fr", "r1@OP-B.MSSANTE.FR")
    assert check(rcpt("new@op-b.mssante.fr", accepted_recipients=accepted)) is None


@pytest.mark.parametrize(
    ("limits", "already", "reply"),
    [
        (PolicyLimits(max_recipients=(("PER", 2),)), 1, None),
        (PolicyLimits(max_recipients=(("PER", 2),)), 2, replies.TOO_MANY_RECIPIENTS),
        (PolicyLimits(max_recipients=(), default_max_recipients=3), 3, replies.TOO_MANY_RECIPIENTS),
    ],
)
def test_configured_caps(limits: PolicyLimits, already: int, reply: Reply | None) -> None:
    verdict = check(
        rcpt("new@op-b.mssante.fr", limits=limits, accepted_recipients=addresses(already))
    )
    assert (verdict.reply if verdict else None) is reply


def test_mx_sessions_use_the_default_cap() -> None:
    local = addresses(100, "op-a.mssante.fr")
    ctx = rcpt("new@op-a.mssante.fr", session=mx_session(), accepted_recipients=local)
    verdict = check(ctx)
    assert verdict is not None and verdict.reply is replies.TOO_MANY_RECIPIENTS
    assert (
        check(rcpt("new@op-a.mssante.fr", session=mx_session(), accepted_recipients=local[:99]))
        is None
    )


def test_t23_recipients_beyond_the_cap_get_452_through_the_engine() -> None:
    engine = PolicyEngine(DEFAULT_RULES)
    replies_seen = []
    accepted: list[str] = []
    for recipient in addresses(53):
        outcome = engine.evaluate(Stage.RCPT, rcpt(recipient, accepted_recipients=tuple(accepted)))
        replies_seen.append(answer(outcome))
        if answer(outcome) is None:
            accepted.append(recipient)
    assert replies_seen[:50] == [None] * 50
    assert replies_seen[50:] == [replies.TOO_MANY_RECIPIENTS] * 3


@pytest.mark.parametrize(
    ("budget", "today", "already", "recipient", "overrides", "reply"),
    [
        (None, 10_000, 0, "new@op-b.mssante.fr", {}, None),
        (100, 0, 0, "new@op-b.mssante.fr", {}, None),
        (100, 99, 0, "new@op-b.mssante.fr", {}, None),
        (100, 100, 0, "new@op-b.mssante.fr", {}, replies.DAILY_RECIPIENT_BUDGET),
        (100, 90, 9, "new@op-b.mssante.fr", {}, None),
        (100, 90, 10, "new@op-b.mssante.fr", {}, replies.DAILY_RECIPIENT_BUDGET),
        (100, 90, 10, "r0@op-b.mssante.fr", {}, None),
        (100, 100, 0, "new@op-a.mssante.fr", {"session": mx_session()}, None),
    ],
)
def test_daily_budget(
    budget: int | None,
    today: int,
    already: int,
    recipient: str,
    overrides: dict[str, Any],
    reply: Reply | None,
) -> None:
    ctx = rcpt(
        recipient,
        limits=PolicyLimits(daily_recipient_budget=budget),
        recipients_today=today,
        accepted_recipients=addresses(already),
        **overrides,
    )
    verdict = check_daily_budget(ctx)
    assert (verdict.reply if verdict else None) is reply


def test_daily_budget_and_cap_have_distinct_texts() -> None:
    assert replies.DAILY_RECIPIENT_BUDGET.text != replies.TOO_MANY_RECIPIENTS.text


@pytest.mark.parametrize(
    ("recipients", "threshold", "noted"),
    [
        (addresses(10), 10, False),
        (addresses(11), 10, True),
        (addresses(10) + ("R0@OP-B.mssante.fr",), 10, False),
        (addresses(1), 0, True),
        (addresses(50), 50, False),
    ],
)
def test_justify_threshold_is_an_audit_note(
    recipients: tuple[str, ...], threshold: int, noted: bool
) -> None:
    ctx = data(recipients=recipients, limits=PolicyLimits(justify_threshold=threshold))
    verdict = check_justify(ctx)
    assert (verdict is not None) is noted
    if verdict is not None:
        assert verdict.action is Action.ACCEPT and verdict.reply is None
        assert f"{len(set(r.lower() for r in recipients))} recipients" in verdict.reason


def test_justify_note_reaches_outcome_notes_without_refusing() -> None:
    outcome = PolicyEngine(DEFAULT_RULES).evaluate(Stage.DATA, data(recipients=addresses(12)))
    assert outcome.verdict is None and not outcome.refused
    assert [note.rule for note in outcome.notes] == ["recipient_justify"]
