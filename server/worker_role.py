"""Which worker process this is, when `mss serve` runs several (`server.supervisor`).

Owns: the process-wide `WorkerRole`, set once by a worker when it starts
(`assume`) and read where a record should say which process made it (the login
audit's `worker` field). It stays `None` in a single process: `mss serve` with
one worker, the admin verbs, and the tests that start the server in-process.

Ref: docs/architecture.md "Top-level layout" (server/ is the composition root).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerRole:
    """Worker `index` of `count`; worker 0 is the primary (scheduler, HTTP)."""

    index: int
    count: int

    @property
    def primary(self) -> bool:
        return self.index == 0


_current: WorkerRole | None = None


def assume(role: WorkerRole) -> None:
    """Record this process's role (once, in the worker, before it serves)."""
    global _current
    _current = role


def current() -> WorkerRole | None:
    """This process's role, or None when it is not one of several workers."""
    return _current
