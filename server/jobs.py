"""Scheduled jobs: defined in code, run by the scheduler or `mss jobs run NAME`.

Invariants: each job takes the clock (`now`) as a parameter and is idempotent
per period; a failed job changes nothing it cannot finish and says why.
Names are fixed by the contract (docs/architecture.md "Time"). This version
defines `trustlist-refresh`, `crl-refresh` and `queue-expire` (`relay_jobs`)
and `quota-warn` (`quota_jobs`); the other contract names (`retention`,
`inactivity`, `audit-purge`) are refused as unknown jobs.

Ref: docs/architecture.md "Time"; R1 (trust-list refresh, keep the last good);
R25 (near-quota notices).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from imap_store.store.trustlists import TrustListStore
from policy.trust_list import TrustListError

from . import quota_jobs, relay_jobs
from .config import Config
from .trust import import_trust_list

log = logging.getLogger("mss.jobs")
MAX_DOWNLOAD = 64 * 1024 * 1024


@dataclass(frozen=True)
class JobResult:
    ok: bool
    message: str


@dataclass(frozen=True)
class JobContext:
    cfg: Config
    trustlists: TrustListStore


Job = Callable[[JobContext, datetime], Awaitable[JobResult]]


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


JOBS: dict[str, Job] = {"trustlist-refresh": trustlist_refresh,
                        "crl-refresh": relay_jobs.crl_refresh,
                        "queue-expire": relay_jobs.queue_expire,
                        "quota-warn": quota_jobs.quota_warn}
# `queue-expire` is not scheduled: in `mss serve` the relay gives up expired rows itself
# (`smtp_gateway.relay.worker`); the job is for `mss jobs run` and scripts.
SCHEDULE: dict[str, dict[str, int]] = {"trustlist-refresh": {"hours": 6},
                                       "crl-refresh": {"hours": 1},
                                       "quota-warn": {"hours": 1}}
AT_START = frozenset({"trustlist-refresh", "crl-refresh"})
"""Jobs the scheduler also runs when it starts; the others first run one interval later
(`quota-warn` reads every BAL: not on each start)."""


def job_names() -> list[str]:
    return sorted(JOBS)

