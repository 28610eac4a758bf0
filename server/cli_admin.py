"""`mss trustlist import|show` and `mss jobs list|run`.

Ref: R1, R2; docs/architecture.md "Contracts" (verbs), "Time" (jobs).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imap_store.store.job_runs import JobRuns
from imap_store.store.trustlists import TrustListStore
from policy.trust_list import TrustListError, parse_trust_list

from .cli_output import emit, emit_record, fail
from .config import Config, ConfigError
from .job_runner import next_run, period_of, run_job
from .job_types import JobContext
from .jobs import JOBS, job_every, job_names
from .storage import admin_store
from .trust import import_file


def add_admin_parsers(sub: Any) -> None:
    tl = sub.add_parser("trustlist", help="the ANS trust list").add_subparsers(
        dest="tl_verb", required=True, metavar="ACTION")
    imp = tl.add_parser("import", help="import an ANS liste blanche XML file")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_tl_import)
    show = tl.add_parser("show", help="is a domain in the trust space, and its operators")
    show.add_argument("domain")
    show.set_defaults(func=_tl_show)
    jobs = sub.add_parser("jobs", help="scheduled jobs").add_subparsers(
        dest="jobs_verb", required=True, metavar="ACTION")
    jobs.add_parser("list", help="list jobs").set_defaults(func=_jobs_list)
    run = jobs.add_parser("run", help="run a job now")
    run.add_argument("name")
    run.add_argument("--now", help="the clock to run with (ISO-8601)")
    run.set_defaults(func=_jobs_run)


async def _tl_import(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        try:
            info, new = await import_file(TrustListStore(st.db), args.file)
        except TrustListError as exc:
            return fail(f"{args.file}: {exc}", 1)
        except OSError as exc:
            return fail(f"{args.file}: {exc.strerror}", 1)
        await st.audit("trustlist.imported", "", {"sha256": info.sha256, "new": new,
                                                  "generated_at": info.generated_at})
    row = {"generated_at": info.generated_at.isoformat(), "sha256": info.sha256,
           "domains": info.domains, "new": new}
    emit_record(row, args.json)
    return 0


async def _tl_show(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        store = TrustListStore(st.db)
        latest = await store.latest_id()
        loaded = await store.load(latest) if latest is not None else None
    if loaded is None:
        return fail("no trust list imported yet (mss trustlist import FILE)", 1)
    tl = parse_trust_list(loaded[1])
    domain = args.domain.strip().lower()
    local = domain in cfg.server.domains
    dns = [",".join(f"{k}={v}" for k, v in dn) for dn in tl.operator_dns(domain)]
    emit_record({"domain": domain, "trusted": tl.is_trusted(domain, cfg.server.domains),
                 "local": local, "version": tl.version, "operators": dns}, args.json)
    return 0 if tl.is_trusted(domain, cfg.server.domains) else 1


JOB_COLUMNS = ("name", "every", "last_run", "last_period", "result", "next_run")


async def _jobs_list(args: argparse.Namespace, cfg: Config) -> int:
    """Each job's period, last run (when, for which period, its result) and next run."""
    now = datetime.now(UTC)
    async with admin_store(cfg) as st:
        latest = await JobRuns(st.db).latest()
        ctx = JobContext(cfg, TrustListStore(st.db))
        rows = []
        for name in job_names():
            last = latest.get(name)
            done = last.period if last is not None and last.ok else None
            rows.append({
                "name": name, "every": job_every(cfg, name) if JOBS[name].scheduled else None,
                "last_run": last.started_at if last else None,
                "last_period": last.period if last else None,
                "ok": last.ok if last else None, "result": last.result if last else None,
                "next_run": next_run(ctx, name, done, now),
                "current_period": period_of(now, job_every(cfg, name))})
    emit(rows, args.json, JOB_COLUMNS)
    return 0


def _clock(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now: {text!r} is not an ISO-8601 date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _jobs_run(args: argparse.Namespace, cfg: Config) -> int:
    if args.name not in JOBS:
        return fail(f"unknown job {args.name!r} (known: {', '.join(job_names())})", 2)
    async with admin_store(cfg) as st:
        result = await run_job(JobContext(cfg, TrustListStore(st.db)), JobRuns(st.db),
                               args.name, _clock(args.now), by_hand=True)
    print(f"{args.name}: {result.message}")
    return 0 if result.ok else 1
