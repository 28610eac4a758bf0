"""Helpers for the scheduler-rule tests: `mss` verbs in a thread, job runs with `--now`,
the scheduler's start-up runs awaited, facts read back from the database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from server import cli
from tests.support import Operator


async def mss(op: Operator, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run `mss --config ... ARGS` in a thread; its exit code and what it printed."""
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["--config", str(op.directory / "mss.toml"),
                                              *args])
    return code, capsys.readouterr().out


async def run_job(op: Operator, capsys: pytest.CaptureFixture[str], name: str,
                  now: datetime) -> str:
    code, out = await mss(op, capsys, "jobs", "run", name, "--now", now.isoformat())
    assert code == 0, out
    return out


async def show(op: Operator, capsys: pytest.CaptureFixture[str], address: str) -> dict:
    code, out = await mss(op, capsys, "--json", "bal", "show", address)
    assert code == 0, out
    return json.loads(out)


async def sql(op: Operator, query: str, **params: object) -> list[tuple]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        return [tuple(r) for r in (await s.execute(text(query), params)).all()]


async def write_sql(op: Operator, query: str, **params: object) -> None:
    assert op.running is not None
    async with op.running.services.db.write() as s:
        await s.execute(text(query), params)


async def scheduler_settled(op: Operator, *jobs: str) -> None:
    """Wait until the running server's scheduler has finished today's run of `jobs`
    (it runs each job at start), so that it cannot act on what a test sets up next."""
    today = datetime.now(UTC).date().isoformat()
    for _ in range(300):
        rows = await sql(op, "SELECT job FROM job_run WHERE period = :p AND finished_at IS "
                         "NOT NULL", p=today)
        if set(jobs) <= {r[0] for r in rows}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the scheduler never ran {jobs}")
