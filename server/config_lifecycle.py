"""The `[lifecycle]`, `[retention]` and `[scheduler]` sections of the configuration.

Owns the three frozen sections and `lifecycle_problem`, which says what is
wrong in them naming the key (`server.config` turns it into a `ConfigError`).

- `[lifecycle]` (R28): `unpublish_after_days` (60), `notice_days_before`
  ([30, 7]), `delete_after_days` (365), `reserve_days` (365: how long the
  address of a deleted BAL is kept from reuse);
- `[retention]` (R25): `folders` ({Trash = 30, Junk = 30}), `default_days`
  (0: nothing purged), `by_type` ({TYPE = {FOLDER = DAYS}}), `batch` (500
  entries per write transaction);
- `[scheduler]`: `tick` (60 s between looks at each job), `leader_retry`
  (30 s between tries to take the lead), `every` ({JOB = SECONDS}, periods
  other than each job's own).

Ref: R25, R28; docs/architecture.md "Scheduler".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policy.bal_types import BAL_TYPES
from policy.lifecycle import LifecycleRules
from policy.retention import RetentionRules


@dataclass(frozen=True)
class LifecycleSection:
    unpublish_after_days: int = 60
    notice_days_before: tuple[int, ...] = (30, 7)
    delete_after_days: int = 365
    reserve_days: int = 365

    def rules(self) -> LifecycleRules:
        return LifecycleRules(self.unpublish_after_days, self.notice_days_before,
                              self.delete_after_days)


@dataclass(frozen=True)
class RetentionSection:
    folders: dict[str, int] = field(default_factory=lambda: {"Trash": 30, "Junk": 30})
    default_days: int = 0
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    batch: int = 500

    def rules(self) -> RetentionRules:
        return RetentionRules(self.folders, self.default_days, self.by_type)


@dataclass(frozen=True)
class SchedulerSection:
    tick: int = 60
    leader_retry: int = 30
    every: dict[str, int] = field(default_factory=dict)


def lifecycle_problem(lifecycle: LifecycleSection, retention: RetentionSection,
                      scheduler: SchedulerSection, jobs: frozenset[str]) -> str | None:
    """What is wrong in these sections, naming the key, or None."""
    why = lifecycle.rules().problem()
    if why:
        return f"lifecycle.{why}"
    if lifecycle.reserve_days > 36_500:
        return "lifecycle.reserve_days: expected 0 to 36500"
    why = retention.rules().problem()
    if why:
        return f"retention.{why}"
    for bal_type in retention.by_type:
        if bal_type not in BAL_TYPES:
            return f"retention.by_type.{bal_type}: not a BAL type ({', '.join(BAL_TYPES)})"
    if not 1 <= retention.batch <= 10_000:
        return "retention.batch: expected 1 to 10000"
    if not 1 <= scheduler.tick <= 3600 or not 1 <= scheduler.leader_retry <= 3600:
        return "scheduler.tick and scheduler.leader_retry: expected 1 to 3600 seconds"
    for name, seconds in scheduler.every.items():
        if name not in jobs:
            return f"scheduler.every.{name}: unknown job ({', '.join(sorted(jobs))})"
        if not 1 <= seconds <= 30 * 86_400:
            return f"scheduler.every.{name}: expected 1 to 2592000 seconds"
    return None
