"""Scheduled jobs: defined in code, run by the scheduler or `mss jobs run NAME`.

Invariants: each job takes the clock (`now`) as a parameter and is idempotent
per period (`job_runner` records each run in `job_run`); a failed job changes
nothing it cannot finish and says why. Names are fixed by the contract
(docs/architecture.md "Time"). This version defines `trustlist-refresh`,
`crl-refresh`, `queue-expire` (`relay_jobs`), `inactivity` and `retention`
(`lifecycle_jobs`) and `quota-warn` (`quota_jobs`: idempotent by the level it
records per BAL, so it runs whenever asked); the other contract name
(`audit-purge`) is refused as an unknown job.

Ref: docs/architecture.md "Time"; R1 (trust-list refresh, keep the last good);
R25 (retention, near-quota notices), R28 (inactivity).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from policy.trust_list import TrustListError

from . import quota_jobs, relay_jobs
from .config import Config
from .job_types import Job, JobContext, JobResult
from .trust import import_trust_list

log = logging.getLogger("mss.jobs")
MAX_DOWNLOAD = 64 * 1024 * 1024


@dataclass(frozen=True)
class JobSpec:
    run: Job
    every: int
    """Seconds per period (`[scheduler] every` may override it)."""
    scheduled: bool = True
    per_period: bool = True
    """False for refresh jobs: run again whenever asked by hand (`mss jobs run`)."""


def _fetch(source: str, cfg: Config) -> bytes:
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=60) as resp:  # noqa: S310 (configured URL)
            data: bytes = resp.read(MAX_DOWNLOAD + 1)
    else:
        data = cfg.resolve(source).read_bytes()
    if len(data) > MAX_DOWNLOAD:
        raise TrustListError(f"trust list larger than {MAX_DOWNLOAD} bytes")
    return data


async def trustlist_refresh(ctx: JobContext, now: datetime) -> JobResult:
    """Fetch `[trustlist] source`, check it, store it; a failure keeps the last good one."""
    source = ctx.cfg.trustlist.source
    if not source:
        return JobResult(True, "trustlist.source is empty: nothing to refresh")
    try:
        raw = await asyncio.to_thread(_fetch, source, ctx.cfg)
        info, new = await import_trust_list(ctx.trustlists, raw, source, ctx.cfg.trustlist.sha256)
    except (OSError, TrustListError) as exc:
        log.error("trust-list refresh from %s failed, keeping the previous version: %s",
                  source, exc)
        return JobResult(False, f"refresh failed, previous version kept: {exc}")
    state = "new version" if new else "unchanged"
    return JobResult(True, f"{state}: generated {info.generated_at.isoformat()} "
                     f"sha256 {info.sha256} ({info.domains} domains)")


async def _inactivity(ctx: JobContext, now: datetime) -> JobResult:
    from .lifecycle_jobs import inactivity
    return await inactivity(ctx, now)


async def _retention(ctx: JobContext, now: datetime) -> JobResult:
    from .lifecycle_jobs import retention
    return await retention(ctx, now)


DAY = 86_400
# `queue-expire` is not scheduled: in `mss serve` the relay gives up expired rows itself
# (`smtp_gateway.relay.worker`); the job is for `mss jobs run` and scripts.
JOBS: dict[str, JobSpec] = {
    "trustlist-refresh": JobSpec(trustlist_refresh, 6 * 3600, per_period=False),
    "crl-refresh": JobSpec(relay_jobs.crl_refresh, 3600, per_period=False),
    "queue-expire": JobSpec(relay_jobs.queue_expire, 3600, scheduled=False),
    "quota-warn": JobSpec(quota_jobs.quota_warn, 3600, per_period=False),
    "inactivity": JobSpec(_inactivity, DAY),
    "retention": JobSpec(_retention, DAY)}


def job_names() -> list[str]:
    return sorted(JOBS)


def job_every(cfg: Config, name: str) -> int:
    """Seconds per period of job `name`: `[scheduler] every.NAME`, else its own."""
    return cfg.scheduler.every.get(name) or JOBS[name].every

