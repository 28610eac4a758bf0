"""The in-process scheduler (APScheduler 3.11) running the jobs of `server.jobs`.

Invariants: jobs run with the real clock here and with `--now` from the CLI;
a job's exception is logged and the scheduler goes on. Within one `mss serve`,
only worker 0 runs the scheduler (`server.workers`); this version elects no
leader among several `mss serve` sharing one PostgreSQL, so each of them runs
the jobs (they are idempotent).

Ref: docs/architecture.md "Scheduler", "Time".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .jobs import AT_START, JOBS, SCHEDULE, JobContext

log = logging.getLogger("mss.scheduler")


def start_scheduler(ctx: JobContext) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, every in SCHEDULE.items():
        start = {"next_run_time": datetime.now(UTC)} if name in AT_START else {}
        scheduler.add_job(_runner(name, ctx), "interval", id=name, coalesce=True,
                          max_instances=1, **start, **every)
    scheduler.start()
    return scheduler


def _runner(name: str, ctx: JobContext):  # type: ignore[no-untyped-def]
    async def run() -> None:
        try:
            result = await JOBS[name](ctx, datetime.now(UTC))
            log.info("job %s: %s", name, result.message)
        except Exception:
            log.exception("job %s failed", name)
    return run
