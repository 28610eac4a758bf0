"""The in-process scheduler (APScheduler 3.11) running the jobs of `server.jobs`.

Invariants:
- jobs run with the real clock here and with `--now` from the CLI; each run
  goes through `job_runner.run_job`, so a period done (by any process, or by
  hand) is not run again; a job's exception is recorded and the scheduler
  goes on;
- within one `mss serve`, only worker 0 runs the scheduler
  (`server.workers`); among several `mss serve` sharing one PostgreSQL, only
  the holder of the advisory lock runs jobs (`leader.Leader`); the others
  try to take it every `[scheduler] leader_retry` seconds, so one of them
  takes over when the holder stops;
- every scheduled job is looked at every `[scheduler] tick` seconds (or its
  own period when shorter) and runs when its current period is not done.

Ref: docs/architecture.md "Scheduler", "Time".
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from imap_store.store.db import Database
from imap_store.store.job_runs import JobRuns

from .job_runner import run_job, runner_name
from .job_types import JobContext
from .jobs import JOBS, job_every
from .leader import Leader

log = logging.getLogger("mss.scheduler")


@dataclass
class Scheduler:
    aps: AsyncIOScheduler
    leader: Leader
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    running: set[asyncio.Task[Any]] = field(default_factory=set)

    async def shutdown(self) -> None:
        """Stop: no new run starts; a run under way ends at its next item (recorded as
        stopped, so its period runs again later), then the lead is given up."""
        self.stop.set()
        self.aps.shutdown(wait=False)
        await asyncio.gather(*self.running, return_exceptions=True)
        await self.leader.close()


def _pg_dsn(db: Database) -> str | None:
    if db.is_sqlite:
        return None
    return db.url.set(drivername="postgresql").render_as_string(hide_password=False)


def start_scheduler(ctx: JobContext, db: Database) -> Scheduler:
    cfg = ctx.cfg
    aps = AsyncIOScheduler(timezone="UTC")
    sched = Scheduler(aps, Leader(_pg_dsn(db), float(cfg.scheduler.leader_retry),
                                  runner_name()))
    ctx = replace(ctx, stopping=sched.stop.is_set)
    runs = JobRuns(db)
    for name, spec in JOBS.items():
        if not spec.scheduled:
            continue
        every = min(job_every(cfg, name), cfg.scheduler.tick)
        aps.add_job(_runner(name, ctx, runs, sched), "interval", id=name, coalesce=True,
                    max_instances=1, next_run_time=datetime.now(UTC), seconds=every)
    aps.start()
    return sched


def _runner(name: str, ctx: JobContext, runs: JobRuns, sched: Scheduler):  # type: ignore[no-untyped-def]
    async def once() -> None:
        try:
            if sched.stop.is_set() or not await sched.leader.ensure():
                return
            result = await run_job(ctx, runs, name, datetime.now(UTC))
            if result.ran:
                log.info("job %s: %s", name, result.message)
        except Exception:
            log.exception("job %s failed", name)

    async def run() -> None:
        # Its own task, so that APScheduler's cancellation at shutdown never cuts a
        # transaction: `shutdown` waits for it instead (it stops at its next item).
        task = asyncio.get_running_loop().create_task(once(), name=f"job {name}")
        sched.running.add(task)
        task.add_done_callback(sched.running.discard)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            log.info("job %s: the server stops", name)
    return run
