"""Work repeated at a fixed interval by a server process (polls of the database).

Owns: `every(interval, step, what)`, the loop the store's watchers and the
trust-list poll run in, and `unbroken(work)`, which lets a piece of database
work finish when its task is cancelled.

Invariants: a failed step is logged (what failed, with its traceback) and
tried again at the next interval; cancelling the loop (the server stopping)
interrupts the wait between steps, never a step: a step under way finishes
first, so no transaction is cut in the middle and no connection goes back to
its pool half-used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def unbroken(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` to its end even if the awaiting task is cancelled meanwhile; the
    cancellation goes on once `work` is done (a transaction or a connection's return
    to its pool is never cut in the middle, nor left running after its task ended)."""
    running = asyncio.ensure_future(work)
    caller = asyncio.current_task()
    if caller is not None:  # the work is known by its caller's name (logs, tests)
        running.set_name(caller.get_name())
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await running
        raise


async def _logged(step: Callable[[], Awaitable[None]], what: str) -> None:
    try:
        await step()
    except Exception:
        log.exception("%s failed; trying again at the next interval", what)


async def every(interval: float, step: Callable[[], Awaitable[None]], what: str) -> None:
    """Run `step` every `interval` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        await unbroken(_logged(step, what))  # a step under way ends first
