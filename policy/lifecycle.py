"""The inactivity lifecycle of a BAL as a decision: what is due now, and when next (R28).

Owns: `LifecycleRules` (the `[lifecycle]` periods), `BalClock` (what the store
knows of one BAL's inactivity), `due_step` (the one step due at `now`) and
`next_step` (the next step and its date, for `mss bal show`).

The clock starts at the BAL's last activity: its last login on any protocol,
its last `mss bal keep` (an objection), or its creation when neither exists.
From there:
- after `unpublish_after_days` (60) the BAL is unpublished (mail still accepted);
- `notice_days_before` (30, 7) days before deletion a notice is due, each
  threshold once; when the job missed a day, only the most urgent one due is sent;
- after `delete_after_days` (365) the BAL is deleted, but never sooner than
  the smallest notice period after the last notice: a user is always told
  before deletion and has that long to object (CNIL AU-037).

Invariants: pure (no clock, no I/O); the same inputs always give the same
step, so a job run twice for one day decides nothing more the second time
(the store records each step before the next run sees the BAL).

Ref: R28 (60 days unpublish, one year delete, notice before deletion, login resets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Step(Enum):
    """A lifecycle transition."""

    UNPUBLISH = "unpublish"
    NOTICE = "notice"
    DELETE = "delete"


@dataclass(frozen=True)
class LifecycleRules:
    unpublish_after_days: int = 60
    notice_days_before: tuple[int, ...] = (30, 7)
    delete_after_days: int = 365

    def problem(self) -> str | None:
        """Why these periods cannot work together, or None."""
        if not 1 <= self.unpublish_after_days <= self.delete_after_days:
            return "unpublish_after_days must be at least 1 and at most delete_after_days"
        for days in self.notice_days_before:
            if not 1 <= days < self.delete_after_days:
                return f"notice_days_before: {days} is not between 1 and delete_after_days - 1"
        if len(set(self.notice_days_before)) != len(self.notice_days_before):
            return "notice_days_before: a period is given twice"
        return None


@dataclass(frozen=True)
class BalClock:
    """One BAL's inactivity facts as stored."""

    last_activity: datetime
    unpublished: bool
    notice_days: int | None = None
    """The smallest `notice_days_before` already sent since the last activity."""
    notice_at: datetime | None = None


@dataclass(frozen=True)
class Due:
    step: Step
    days: int = 0
    """For a notice: the threshold (days before deletion) it is sent for."""


def deletion_date(rules: LifecycleRules, clock: BalClock) -> datetime:
    """When the BAL may be deleted: one year after its last activity, and not before
    the smallest notice period has passed since the last notice."""
    at = clock.last_activity + timedelta(days=rules.delete_after_days)
    if rules.notice_days_before and clock.notice_at is not None:
        at = max(at, clock.notice_at + timedelta(days=min(rules.notice_days_before)))
    return at


def _notice_due(rules: LifecycleRules, clock: BalClock, now: datetime) -> int | None:
    """The most urgent notice threshold reached and not yet sent, or None."""
    end = clock.last_activity + timedelta(days=rules.delete_after_days)
    reached = [d for d in rules.notice_days_before if now >= end - timedelta(days=d)]
    unsent = [d for d in reached if clock.notice_days is None or d < clock.notice_days]
    return min(unsent) if unsent else None


def due_step(rules: LifecycleRules, clock: BalClock, now: datetime) -> Due | None:
    """The step due at `now`, or None; unpublication first, then a notice, then deletion."""
    idle = now - clock.last_activity
    if not clock.unpublished and idle >= timedelta(days=rules.unpublish_after_days):
        return Due(Step.UNPUBLISH)
    notice = _notice_due(rules, clock, now)
    if notice is not None:
        return Due(Step.NOTICE, notice)
    final_notice_sent = (not rules.notice_days_before
                         or clock.notice_days == min(rules.notice_days_before))
    if clock.unpublished and final_notice_sent and now >= deletion_date(rules, clock):
        return Due(Step.DELETE)
    return None


def next_step(rules: LifecycleRules, clock: BalClock) -> tuple[Step, datetime]:
    """The next step to take and the date it becomes due."""
    if not clock.unpublished:
        return Step.UNPUBLISH, clock.last_activity + timedelta(
            days=rules.unpublish_after_days)
    end = clock.last_activity + timedelta(days=rules.delete_after_days)
    pending = sorted((d for d in rules.notice_days_before
                      if clock.notice_days is None or d < clock.notice_days), reverse=True)
    if pending:
        return Step.NOTICE, end - timedelta(days=pending[0])
    return Step.DELETE, deletion_date(rules, clock)
