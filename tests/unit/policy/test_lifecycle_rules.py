"""The inactivity lifecycle as a table: facts and a date in, the step due out (R28),
and the retention period of a folder (R25)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy.lifecycle import BalClock, Due, LifecycleRules, Step, due_step, next_step
from policy.retention import RetentionRules, parse_setting, period_days

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = timedelta(days=1)
RULES = LifecycleRules()


@pytest.mark.parametrize(("day", "clock", "due"), [
    (59, BalClock(T0, False), None),
    (60, BalClock(T0, False), Due(Step.UNPUBLISH)),
    (200, BalClock(T0, True), None),
    (334, BalClock(T0, True), None),
    (335, BalClock(T0, True), Due(Step.NOTICE, 30)),
    (336, BalClock(T0, True, 30, T0 + 335 * D), None),
    (358, BalClock(T0, True, 30, T0 + 335 * D), Due(Step.NOTICE, 7)),
    (360, BalClock(T0, True), Due(Step.NOTICE, 7)),  # a missed day: the urgent one only
    (364, BalClock(T0, True, 7, T0 + 358 * D), None),
    (365, BalClock(T0, True, 7, T0 + 358 * D), Due(Step.DELETE)),
    (365, BalClock(T0, True, 30, T0 + 335 * D), Due(Step.NOTICE, 7)),  # never unwarned
    (400, BalClock(T0, True, 7, T0 + 398 * D), None),  # 7 days after the last notice
    (405, BalClock(T0, True, 7, T0 + 398 * D), Due(Step.DELETE)),
    (400, BalClock(T0, False), Due(Step.UNPUBLISH)),  # one step at a time, in order
])
def test_due_step(day: int, clock: BalClock, due: Due | None) -> None:
    assert due_step(RULES, clock, T0 + day * D) == due


def test_next_step_dates() -> None:
    assert next_step(RULES, BalClock(T0, False)) == (Step.UNPUBLISH, T0 + 60 * D)
    assert next_step(RULES, BalClock(T0, True)) == (Step.NOTICE, T0 + 335 * D)
    assert next_step(RULES, BalClock(T0, True, 30, T0 + 335 * D)) == (Step.NOTICE, T0 + 358 * D)
    assert next_step(RULES, BalClock(T0, True, 7, T0 + 358 * D)) == (Step.DELETE, T0 + 365 * D)


@pytest.mark.parametrize(("rules", "problem"), [
    (LifecycleRules(), None),
    (LifecycleRules(unpublish_after_days=0), "unpublish_after_days"),
    (LifecycleRules(notice_days_before=(400,)), "notice_days_before"),
    (LifecycleRules(notice_days_before=(7, 7)), "twice"),
])
def test_rules_problems(rules: LifecycleRules, problem: str | None) -> None:
    found = rules.problem()
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(("bal_type", "folder", "own", "days"), [
    ("PER", "Trash", {}, 30),
    ("PER", "Junk", {}, 30),
    ("PER", "INBOX", {}, 0),
    ("PER", "Archives", {}, 0),
    ("ORG", "Trash", {}, 10),
    ("ORG", "Trash", {"Trash": 3}, 3),
    ("PER", "inbox", {"INBOX": 90}, 90),
    ("PER", "trash", {}, 0),  # IMAP names are case-sensitive, INBOX apart
])
def test_retention_period(bal_type: str, folder: str, own: dict[str, int], days: int) -> None:
    rules = RetentionRules(by_type={"ORG": {"Trash": 10}})
    assert period_days(rules, bal_type, folder, own) == days


def test_retention_settings_and_problems() -> None:
    assert parse_setting("Trash=7") == ("Trash", 7)
    assert parse_setting("inbox=0") == ("INBOX", 0)
    assert parse_setting("A=B=5") == ("A=B", 5)
    for bad in ("Trash", "=5", "Trash=-1", "Trash=x", "Trash=99999999"):
        with pytest.raises(ValueError):
            parse_setting(bad)
    assert RetentionRules(default_days=-1).problem() is not None
    assert RetentionRules(folders={"Trash": True}).problem() is not None  # type: ignore[dict-item]
