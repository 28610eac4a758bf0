"""The store a job works on: the running server's, or one opened for `mss jobs run`.

Owns: `JobStore` (database, data keys, change notifier, intake) and
`job_store(ctx)`. Inside `mss serve` the jobs share the process's database, so
their writes queue behind the same write lock as deliveries and IMAP writes
and their expunges reach this process's IMAP sessions through its notifier;
from the CLI a store is opened for the run and closed after it (the running
server's sessions see the changes through `change_watch`).

Ref: docs/architecture.md "Scheduler", "Two small Protocols" (jobs use the
store and intake through them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from imap_store.store.db import Database
from imap_store.store.delivery import DeliveryStore
from imap_store.store.keys import DataKeys
from imap_store.store.notify import ChangeNotifier
from smtp_gateway.intake import Intake

from .job_types import JobContext
from .storage import open_store


@dataclass(frozen=True)
class JobStore:
    db: Database
    keys: DataKeys
    notifier: ChangeNotifier
    intake: Intake


@asynccontextmanager
async def job_store(ctx: JobContext) -> AsyncIterator[JobStore]:
    if ctx.store is not None:
        yield ctx.store
        return
    cfg = ctx.cfg
    db, keys = open_store(cfg)
    notifier = ChangeNotifier()
    intake = Intake(DeliveryStore(db, keys, notifier), cfg.server.hostname,
                    frozenset(cfg.server.domains))
    try:
        yield JobStore(db, keys, notifier, intake)
    finally:
        await db.dispose()
