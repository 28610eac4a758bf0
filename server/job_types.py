"""What a scheduled job is given and what it returns.

Owns: `JobContext` (the configuration, the trust lists, the running server's
store and its stop flag), `JobResult` and the `Job` signature. Kept apart from
`server.jobs`, which lists the jobs, so that the modules defining jobs
(`lifecycle_jobs`, `quota_jobs`, `relay_jobs`) import these types without
importing the list that imports them.

Ref: docs/architecture.md "Time".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from imap_store.store.trustlists import TrustListStore

from .config import Config

if TYPE_CHECKING:
    from .job_store import JobStore


@dataclass(frozen=True)
class JobResult:
    ok: bool
    message: str
    ran: bool = True
    """False when the period was already done (or under way elsewhere): nothing ran."""


@dataclass(frozen=True)
class JobContext:
    cfg: Config
    trustlists: TrustListStore
    store: JobStore | None = None
    """The running server's store (one write lock per process); None: jobs open their own."""
    stopping: Callable[[], bool] = lambda: False
    """True once the server stops: a long job ends at its next item, recorded as failed."""


Job = Callable[[JobContext, datetime], Awaitable[JobResult]]
