"""The jobs of the exchange between operators: `queue-expire` and `crl-refresh`.

`queue-expire` gives up every queued message older than `relay.lifetime`
seconds at `now`: its sender gets a failure report (RFC 3464, status 4.4.7,
unless NOTIFY says otherwise) through intake, in its INBOX, and the row goes
(`smtp_gateway.relay.worker.give_up`). Rows a relay is sending at that moment
are left to it. Idempotent: a row given up is gone.

`crl-refresh` fetches every `tls.crl` source and keeps the last good copy of
each (`server.crl`); a running server rebuilds its MX and relay contexts when
a copy changed (`server.exchange`).

Ref: R4, R7; RFC 5321 4.5.4.1 (give up after 4-5 days), 6.1; docs/architecture.md "Time".
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from imap_store.store.delivery import DeliveryStore
from imap_store.store.notify import ChangeNotifier
from imap_store.store.outbound import OutboundQueue
from smtp_gateway.intake import Intake
from smtp_gateway.relay.notice import Notices
from smtp_gateway.relay.worker import expired, give_up

from .crl import refresh_crls
from .job_types import JobContext, JobResult
from .storage import open_store

BATCH = 100
LEASE = 600.0


async def queue_expire(ctx: JobContext, now: datetime) -> JobResult:
    cfg = ctx.cfg
    db, keys = open_store(cfg)
    try:
        queue = OutboundQueue(db, keys)
        notices = Notices(Intake(DeliveryStore(db, keys, ChangeNotifier()),
                                 cfg.server.hostname), cfg.server.hostname)
        given_up = 0
        while True:
            rows = await queue.claim_expired(now, float(cfg.relay.lifetime), BATCH, LEASE)
            for item in rows:
                if await give_up(queue, notices, item, expired(item.recipients), None, now=now):
                    given_up += 1
            if len(rows) < BATCH:
                break
    finally:
        await db.dispose()
    return JobResult(True, f"{given_up} expired message(s) given up, senders told")


async def crl_refresh(ctx: JobContext, now: datetime) -> JobResult:
    if not ctx.cfg.tls.crl:
        return JobResult(True, "tls.crl is empty: nothing to refresh")
    results = await asyncio.to_thread(refresh_crls, ctx.cfg, now)
    failed = [r.message for r in results if not r.ok]
    if failed:
        return JobResult(False, "; ".join(failed))
    return JobResult(True, "; ".join(r.message for r in results))
