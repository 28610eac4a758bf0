"""Two `mss serve` processes on one PostgreSQL database: one runs the scheduled jobs,
each job once per period; when it stops (SIGKILL), the other takes over.

Periods are shortened to 2 s (`[scheduler] every`) and
the lead is retried every second, so the test runs in seconds; the code paths are those
of a daily period. Which process ran a period is in `job_run.runner` (host:pid) and in
each process's log.

Ref: docs/architecture.md "Scheduler" (advisory lock).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from server import config as config_mod
from server.storage import open_store
from tests.support import drop_pg_database, is_postgres, make_operator

MSS = [sys.executable, "-m", "server.cli"]
SHORT = ("[scheduler]\ntick = 1\nleader_retry = 1\n"
         "every = { inactivity = 2, retention = 2 }\n")
JOBS = ("inactivity", "retention")

pytestmark = pytest.mark.skipif(not is_postgres(), reason="several mss serve share PostgreSQL "
                                "(set MSS_TEST_DATABASE_URL)")


def _start(cfg: config_mod.Config, log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MSS_CONFIG": str(cfg.path)}
    with log.open("w") as err:
        proc = subprocess.Popen([*MSS, "serve"], env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert re.match(r"mss: serving \{", line), line + log.read_text()
    return proc


async def _runs(cfg: config_mod.Config) -> list[tuple[str, str, str, bool | None]]:
    db, _keys = open_store(cfg)
    try:
        async with db.read() as s:
            rows = (await s.execute(text(
                "SELECT job, period, runner, ok FROM job_run WHERE job IN ('inactivity', "
                "'retention') ORDER BY period, job"))).all()
    finally:
        await db.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def _lock_holders(cfg: config_mod.Config) -> list[int]:
    """The processes whose session holds the scheduler's advisory lock (by pid)."""
    db, _keys = open_store(cfg)
    try:
        async with db.read() as s:
            rows = (await s.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND a.datname = current_database()"))).scalars().all()
    finally:
        await db.dispose()
    return [_pid(name) for name in rows]


def _pid(runner: str) -> int:
    return int(runner.rsplit(":", 1)[1])


@pytest.fixture
def config(tmp_path: Path) -> Iterator[config_mod.Config]:
    op = asyncio.run(make_operator(tmp_path, extra_toml=SHORT))
    path = op.directory / "mss.toml"
    path.write_text(path.read_text().replace("[server]\n", "[server]\nworkers = 1\n", 1))
    yield config_mod.load(path)
    if op.pg_name:
        asyncio.run(drop_pg_database(op.pg_name))


def _wait_for_runs(cfg: config_mod.Config, pid: int, periods: int,
                   seconds: float = 30.0) -> list[tuple[str, str, str, bool | None]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = asyncio.run(_runs(cfg))
        if all(sum(1 for r in runs if r[0] == job and _pid(r[2]) == pid) >= periods
               for job in JOBS):
            return runs
        time.sleep(0.5)
    raise AssertionError(f"process {pid} did not run {periods} periods: {runs}")


def test_one_process_runs_the_jobs_and_the_other_takes_over(
        config: config_mod.Config, tmp_path: Path) -> None:
    first = _start(config, tmp_path / "first.log")
    second = _start(config, tmp_path / "second.log")
    try:
        runs = _wait_for_runs(config, first.pid, 3)
        assert {_pid(r[2]) for r in runs} == {first.pid}  # the second never ran one
        assert asyncio.run(_lock_holders(config)) == [first.pid]
        assert all(r[3] for r in runs if r[3] is not None)
        first.send_signal(signal.SIGKILL)  # its session ends: PostgreSQL frees the lock
        first.wait()
        killed_at = max(r[1] for r in runs)
        runs = _wait_for_runs(config, second.pid, 2)
        taken = [r for r in runs if _pid(r[2]) == second.pid]
        assert asyncio.run(_lock_holders(config)) == [second.pid]
        assert min(r[1] for r in taken) > killed_at  # only periods after the kill
        for job in JOBS:  # one run per period, by one process
            periods = [r[1] for r in runs if r[0] == job]
            assert len(periods) == len(set(periods))
        second_log = (tmp_path / "second.log").read_text()
        ran = re.findall(r"job (inactivity|retention): \d+", second_log)
        assert len(ran) == len(taken), second_log[-3000:]
        first_log = (tmp_path / "first.log").read_text()
        assert "this process now runs the scheduled jobs" in first_log
        assert "this process now runs the scheduled jobs" in second_log
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
