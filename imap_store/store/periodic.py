"""Work repeated at a fixed interval by a server process (polls of the database).

Owns: `every(interval, step, what)`, the loop the store's watchers and the
trust-list poll run in.

Invariants: a failed step is logged (what failed, with its traceback) and
tried again at the next interval; cancelling the loop (the server stopping)
interrupts the wait between steps, never a step: a step under way finishes
first, so no transaction is cut in the middle and no connection goes back to
its pool half-used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def _logged(step: Callable[[], Awaitable[None]], what: str) -> None:
    try:
        await step()
    except Exception:
        log.exception("%s failed; trying again at the next interval", what)


async def every(interval: float, step: Callable[[], Awaitable[None]], what: str) -> None:
    """Run `step` every `interval` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        running = asyncio.ensure_future(_logged(step, what))
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            await running  # the step ends first; the cancellation then goes on
            raise
