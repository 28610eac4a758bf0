"""Background tasks are kept, logged when they fail and cancelled at stop (no fire-and-forget)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from imap_store.store.periodic import every
from server.app import reload
from server.tasks import BackgroundTasks
from tests.protocol.conftest import running_operator


@pytest.mark.server_error("mss.tasks", r"background task trust-list refresh failed")
async def test_a_failing_task_is_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks()

    async def boom() -> None:
        raise RuntimeError("refresh failed")

    with caplog.at_level(logging.ERROR, logger="mss.tasks"):
        task = tasks.spawn(boom(), "trust-list refresh")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
    failed = [r for r in caplog.records if "trust-list refresh" in r.getMessage()]
    assert failed and failed[0].exc_info and "refresh failed" in str(failed[0].exc_info[1])
    assert len(tasks) == 0


async def test_close_cancels_running_tasks_and_waits_for_them() -> None:
    tasks = BackgroundTasks()
    ended = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = tasks.spawn(forever(), "poll")
    await asyncio.sleep(0)
    assert len(tasks) == 1
    await tasks.close()
    assert task.cancelled() and ended.is_set() and len(tasks) == 0


async def test_reload_refresh_task_is_owned_and_gone_after_stop(tmp_path: Path) -> None:
    async with running_operator(tmp_path, trust_list=False) as op:
        assert op.running is not None
        assert reload(op.running)
        trust_tasks = {t for t in asyncio.all_tasks() if t.get_name().startswith("trust-list")}
        assert any(t.get_name() == "trust-list refresh" for t in trust_tasks)
    await asyncio.sleep(0)
    assert all(t.done() for t in trust_tasks)


async def test_a_periodic_step_under_way_ends_before_the_cancellation() -> None:
    steps: list[str] = []
    started = asyncio.Event()

    async def step() -> None:
        steps.append("begin")
        started.set()
        await asyncio.sleep(0.2)  # a transaction under way
        steps.append("end")

    task = asyncio.create_task(every(0.01, step, "test step"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["begin", "end"]


@pytest.mark.server_error("imap_store.store.periodic", "test step failed")
async def test_a_failed_periodic_step_is_logged_and_tried_again() -> None:
    calls = 0
    third = asyncio.Event()

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        if calls == 3:
            third.set()

    task = asyncio.create_task(every(0.01, step, "test step"))
    await asyncio.wait_for(third.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
