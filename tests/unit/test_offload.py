"""`offload`: large work leaves the loop with the short switch interval while it runs
(the event loop waits at most `BUSY_SWITCH` for the GIL after each I/O call), and the
usual interval comes back when the last job ends, whatever way it ends."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from imap_store.store.offload import BUSY_SWITCH, ON_LOOP_MAX, by_size, off_loop

USUAL = 0.004


@pytest.fixture(autouse=True)
def usual_interval() -> object:
    before = sys.getswitchinterval()
    sys.setswitchinterval(USUAL)
    yield
    sys.setswitchinterval(before)


def _interval_seen() -> tuple[float, str]:
    return sys.getswitchinterval(), threading.current_thread().name


async def test_a_large_job_runs_in_a_thread_with_the_short_interval_then_it_is_restored() -> None:
    seen, thread = await by_size(ON_LOOP_MAX + 1, _interval_seen)
    assert seen == pytest.approx(BUSY_SWITCH)
    assert thread != threading.current_thread().name
    assert sys.getswitchinterval() == pytest.approx(USUAL)


async def test_a_small_job_runs_inline_with_the_usual_interval() -> None:
    seen, thread = await by_size(ON_LOOP_MAX, _interval_seen)
    assert seen == pytest.approx(USUAL)
    assert thread == threading.current_thread().name


async def test_the_interval_stays_short_until_the_last_of_concurrent_jobs_ends() -> None:
    first_done, release = threading.Event(), threading.Event()

    def quick() -> float:
        first_done.set()
        return sys.getswitchinterval()

    def slow() -> float:
        release.wait(5)
        return sys.getswitchinterval()

    long_job = asyncio.ensure_future(off_loop(slow))
    assert await off_loop(quick) == pytest.approx(BUSY_SWITCH)
    assert first_done.is_set()
    # The quick job ended while the slow one still runs: still short.
    assert sys.getswitchinterval() == pytest.approx(BUSY_SWITCH)
    release.set()
    assert await long_job == pytest.approx(BUSY_SWITCH)
    assert sys.getswitchinterval() == pytest.approx(USUAL)


async def test_a_failing_job_restores_the_usual_interval() -> None:
    def fail() -> None:
        raise ValueError("bad part")

    with pytest.raises(ValueError, match="bad part"):
        await off_loop(fail)
    assert sys.getswitchinterval() == pytest.approx(USUAL)
