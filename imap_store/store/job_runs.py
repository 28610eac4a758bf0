"""Runs of scheduled jobs, one row per (job, period): a job done once for a period
is not done again, whichever process or verb asks.

Owns: `JobRuns` with `claim` (take a period to run, or learn it is done or
under way), `finish` (record the result) and `latest` (the last run of each
job, for `mss jobs list`).

Invariants:
- a period whose run finished ok is never claimed again;
- a failed run, or one whose runner stopped (started more than `stale`
  seconds ago and never finished), may be claimed again;
- a claim is one conditional write: of two processes claiming one period,
  exactly one gets it.

Ref: docs/architecture.md "Time" (jobs take the clock, idempotent per period); R25, R28.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .db import Database
from .models import JobRun


class Claim(Enum):
    TAKEN = "taken"
    DONE = "done"
    RUNNING = "running"


@dataclass(frozen=True)
class JobRunInfo:
    job: str
    period: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool | None
    result: str
    runner: str


class JobRuns:
    """The `job_run` table."""

    def __init__(self, db: Database, stale: float = 3600.0) -> None:
        self.db = db
        self.stale = stale

    async def claim(self, job: str, period: str, runner: str, now: datetime) -> Claim:
        """Take (job, period) for `runner`, unless done or under way elsewhere."""
        try:
            async with self.db.write() as s:
                s.add(JobRun(job=job, period=period, started_at=now, runner=runner[:64],
                             result=""))
            return Claim.TAKEN
        except IntegrityError:
            pass
        stale_before = now - timedelta(seconds=self.stale)
        async with self.db.write() as s:
            taken = await s.execute(update(JobRun).where(
                JobRun.job == job, JobRun.period == period, or_(
                    JobRun.ok.is_(False),
                    and_(JobRun.finished_at.is_(None), JobRun.started_at < stale_before)))
                .values(started_at=now, finished_at=None, ok=None, runner=runner[:64]))
            if taken.rowcount:  # type: ignore[attr-defined]
                return Claim.TAKEN
            ok = (await s.execute(select(JobRun.ok).where(
                JobRun.job == job, JobRun.period == period))).scalar()
        return Claim.DONE if ok else Claim.RUNNING

    async def finish(self, job: str, period: str, ok: bool, result: str,
                     now: datetime) -> None:
        async with self.db.write() as s:
            await s.execute(update(JobRun).where(JobRun.job == job, JobRun.period == period)
                            .values(finished_at=now, ok=ok, result=result[:2000]))

    async def get(self, job: str, period: str) -> JobRunInfo | None:
        async with self.db.read() as s:
            row = await s.get(JobRun, (job, period))
            return _info(row) if row is not None else None

    async def latest(self) -> dict[str, JobRunInfo]:
        """The most recently started run of each job."""
        async with self.db.read() as s:
            newest = select(JobRun.job, func.max(JobRun.started_at).label("at")).group_by(
                JobRun.job).subquery()
            rows = (await s.execute(select(JobRun).join(newest, and_(
                JobRun.job == newest.c.job, JobRun.started_at == newest.c.at)))).scalars()
            return {r.job: _info(r) for r in rows}

    async def count(self, job: str) -> int:
        async with self.db.read() as s:
            return int((await s.execute(select(func.count()).select_from(JobRun).where(
                JobRun.job == job))).scalar_one())


def _info(row: JobRun) -> JobRunInfo:
    return JobRunInfo(row.job, row.period, row.started_at, row.finished_at, row.ok,
                      row.result, row.runner)
