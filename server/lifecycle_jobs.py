"""The jobs `inactivity` (R28) and `retention` (R25), orchestrated over the store.

`inactivity` walks every BAL by id, asks the policy (`policy.lifecycle`) which
step is due at `now` and has the store take it (`imap_store.store.lifecycle`):
unpublish, send a deletion notice through intake (`lifecycle_notice`), or
delete. `retention` walks every folder, resolves its period
(`policy.retention`) and purges the entries received before `now - period`
in short batches (`imap_store.store.retention`), with one audit record per
folder purged (`retention.purged`: the count and the UIDs, never content).

Invariants: both take the clock as a parameter and decide only from stored
facts, so a second run for the same `now` finds nothing more to do; reads
are paged, writes are short transactions.

Ref: R25, R28; docs/architecture.md "Time".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.interfaces import AuditEvent
from imap_store.store.lifecycle import BalFacts, Lifecycle
from imap_store.store.retention import FolderRef, Purger, folders_after, oldest, own_settings
from policy.lifecycle import BalClock, Step, deletion_date, due_step
from policy.retention import period_days

from .audit import DatabaseAuditSink
from .job_store import JobStore, job_store
from .job_types import JobContext, JobResult
from .lifecycle_notice import send_notice

PAGE = 1000
UIDS_PER_RECORD = 5000


def clock_of(facts: BalFacts) -> BalClock:
    return BalClock(facts.last_activity, facts.lifecycle_state != "active",
                    facts.notice_days, facts.notice_at)


async def _step(ctx: JobContext, st: JobStore, life: Lifecycle, facts: BalFacts,
                now: datetime) -> str | None:
    rules, clock = ctx.cfg.lifecycle.rules(), clock_of(facts)
    due = due_step(rules, clock, now)
    if due is None:
        return None
    if due.step is Step.UNPUBLISH:
        idle = (now - facts.last_activity).days
        return "unpublished" if await life.unpublish(facts, now, idle) else None
    if due.step is Step.NOTICE:
        when = deletion_date(rules, BalClock(clock.last_activity, True, due.days, now))
        to = await send_notice(st.intake, bal_id=facts.id, bal=facts.address,
                               to=facts.notice_address or facts.address,
                               since=facts.last_activity, when=when, now=now)
        return "noticed" if await life.record_notice(facts, due.days, to, now, when) else None
    reserve = now + timedelta(days=ctx.cfg.lifecycle.reserve_days)
    return "deleted" if await life.delete(facts, now, reserve) else None


def lifecycle_of(st: JobStore, batch: int) -> Lifecycle:
    return Lifecycle(st.db, st.keys, LOCAL_ENTRIES, Purger(st.db, st.notifier, batch))


async def inactivity(ctx: JobContext, now: datetime, *,
                     stats: dict[str, float] | None = None) -> JobResult:
    counts = {"unpublished": 0, "noticed": 0, "deleted": 0}
    seen = 0
    async with job_store(ctx) as st:
        life = lifecycle_of(st, ctx.cfg.retention.batch)
        after = 0
        while page := await life.scan(after, PAGE):
            after, seen = page[-1].id, seen + len(page)
            if ctx.stopping():
                return JobResult(False, f"stopped with the server after {seen} BAL(s)")
            for facts in page:
                done = await _step(ctx, st, life, facts, now)
                if done is not None:
                    counts[done] += 1
        if stats is not None:
            stats.update({f"longest_{k}": v for k, v in life.longest.items()})
            stats["longest_delete_purge"] = life.purger.longest
            stats["longest_write"] = max([*life.longest.values(), life.purger.longest])
    return JobResult(True, f"{seen} BAL(s) looked at: " + ", ".join(
        f"{n} {k}" for k, n in counts.items()))


def _cutoffs(ctx: JobContext, page: list[FolderRef], own: dict[int, dict[str, int]],
             now: datetime) -> dict[int, tuple[int, datetime]]:
    """Folder id -> (period in days, cutoff) for the folders of `page` with a period."""
    rules, found = ctx.cfg.retention.rules(), {}
    for folder in page:
        days = period_days(rules, folder.bal_type, folder.name, own.get(folder.bal_id, {}))
        if days:
            found[folder.id] = (days, now - timedelta(days=days))
    return found


async def _purge_folder(purger: Purger, audit: DatabaseAuditSink, folder: FolderRef,
                        days: int, cutoff: datetime) -> int:
    uids = await purger.purge(folder.bal_id, folder.id, cutoff)
    parts = range(0, len(uids), UIDS_PER_RECORD)
    for part, start in enumerate(parts, 1):  # a bounded record: 5,000 UIDs at most
        await audit.record(AuditEvent("retention.purged", protocol="job", bal=folder.address,
                                      detail={"folder": folder.name, "days": days,
                                              "count": len(uids), "part": part,
                                              "parts": len(parts),
                                              "uids": uids[start:start + UIDS_PER_RECORD]}))
    return len(uids)


async def retention(ctx: JobContext, now: datetime, *,
                    stats: dict[str, float] | None = None) -> JobResult:
    purged = folders = 0
    async with job_store(ctx) as st:
        purger = Purger(st.db, st.notifier, ctx.cfg.retention.batch)
        audit = DatabaseAuditSink(st.db)
        after = 0
        while page := await folders_after(st.db, after, PAGE):
            after = page[-1].id
            if ctx.stopping():
                return JobResult(False, f"stopped with the server: {purged} purged")
            own = await own_settings(st.db, sorted({f.bal_id for f in page}))
            cutoffs = _cutoffs(ctx, page, own, now)
            first = await oldest(st.db, sorted(cutoffs))
            for folder in page:
                if folder.id not in first or first[folder.id] >= cutoffs[folder.id][1]:
                    continue  # no period, empty, or nothing old enough: no write
                n = await _purge_folder(purger, audit, folder, *cutoffs[folder.id])
                purged, folders = purged + n, folders + (1 if n else 0)
        if stats is not None:
            stats["longest_write"] = purger.longest
            stats["batches"] = purger.batches
    return JobResult(True, f"{purged} message(s) purged from {folders} folder(s)")
