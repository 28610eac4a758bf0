"""Running a job for one period: claimed in `job_run`, run, its result recorded.

Owns: `period_of` (the period `now` falls in, for a job run every `every`
seconds: a UTC day `2026-11-30` for daily jobs, else the period's start
`2026-11-30T06:00:00`), `run_job` and `next_run` (for `mss jobs list`).

Invariants:
- a job that keeps to its periods (`JobSpec.per_period`) runs at most once to
  success per period, whoever asks: the scheduler of any process or
  `mss jobs run NAME --now ISO` (which then says the period is done and
  changes nothing);
- a refresh job (`per_period` false) runs whenever asked by hand, and once per
  period when scheduled; every run records its result;
- a job's exception is recorded as a failed run and the period may be run again.

Ref: docs/architecture.md "Time" (jobs take the clock, idempotent per period); R25, R28.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from imap_store.store.job_runs import Claim, JobRuns

from .job_types import JobContext, JobResult
from .jobs import JOBS, job_every

log = logging.getLogger("mss.jobs")
DAY = 86_400


def runner_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def period_start(now: datetime, every: int) -> datetime:
    epoch = int(now.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % every, UTC)


def period_of(now: datetime, every: int) -> str:
    start = period_start(now, every)
    return start.date().isoformat() if every % DAY == 0 else start.strftime("%Y-%m-%dT%H:%M:%S")


async def run_job(ctx: JobContext, runs: JobRuns, name: str, now: datetime, *,
                  by_hand: bool = False) -> JobResult:
    """Run job `name` for the period of `now` unless that period is done or under way."""
    spec = JOBS[name]
    period = period_of(now, job_every(ctx.cfg, name))
    force = by_hand and not spec.per_period
    started = datetime.now(UTC)
    if not force:
        done = await runs.get(name, period)
        if done is not None and done.ok:
            return JobResult(True, f"period {period} already done: {done.result}", ran=False)
    claim = await runs.claim(name, period, runner_name(), started)
    if claim is Claim.DONE and not force:
        return JobResult(True, f"period {period} already done", ran=False)
    if claim is Claim.RUNNING and not force:
        return JobResult(True, f"period {period} is being run by another process", ran=False)
    try:
        result = await spec.run(ctx, now)
    except Exception as exc:
        log.exception("job %s failed", name)
        result = JobResult(False, f"failed: {type(exc).__name__}")
    await runs.finish(name, period, result.ok, result.message, datetime.now(UTC))
    return result


def next_run(ctx: JobContext, name: str, last_period_done: str | None,
             now: datetime) -> datetime | None:
    """When the scheduler runs `name` next: now if its current period is not done,
    else the start of the next period; None for a job that is not scheduled."""
    if not JOBS[name].scheduled:
        return None
    every = job_every(ctx.cfg, name)
    if last_period_done != period_of(now, every):
        return now
    return period_start(now, every) + timedelta(seconds=every)
