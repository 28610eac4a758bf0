"""Background tasks of the process: kept, logged when they fail, cancelled at stop.

Owns: `BackgroundTasks`, the one way `server/` starts a task that outlives the
call that started it (a trust-list refresh after SIGHUP, the trust-list poll).

Invariants:
- every task started here is referenced until it ends (the event loop keeps
  only weak references: an unreferenced task can vanish mid-flight);
- a task that ends with an exception is logged with its traceback at once,
  never left as "Task exception was never retrieved";
- `close()` cancels what is still running and waits for it, so nothing of
  ours runs after the process stopped its listeners and closed the database.

Ref: Python docs, `asyncio.create_task` ("save a reference to the result").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("mss.tasks")


class BackgroundTasks:
    """A set of named tasks owned by one component."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel the tasks still running and wait until they have ended."""
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
