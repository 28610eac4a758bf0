"""CPU-bound work on message octets: on the event loop when small, in a worker thread when large.

Owns: `by_size(size, fn, *args)` and its threshold `ON_LOOP_MAX`, the one rule
the gateway (DATA assembly, message facts, trace headers) and the store
(meta and sealing) follow for work proportional to a message's size; and
`off_loop(fn, *args)`, how such work leaves the loop.

Invariants: work on at most `ON_LOOP_MAX` octets runs on the event loop (a
thread hop would cost more than the work, and every hop waits for the GIL);
above it, it runs in the default executor so that no loop step is
proportional to the message (a 25 MB message never holds the loop).

While such a job runs, the interpreter's switch interval is `BUSY_SWITCH`
(0.2 ms) instead of the process's usual one: the event loop gives up the GIL at
every socket, TLS and SQLite call, and each time a worker thread busy in Python
keeps it until the interval runs out before the loop gets it back (CPython's
"convoy effect"). A NOOP answered during a 25 MB delivery makes a dozen such
calls, so with 1 ms it waited 20 to 30 ms. The usual interval is restored when
the last running job ends.

Ref: docs/architecture.md "Conventions" 13 (hot paths written for speed).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

ON_LOOP_MAX = 128 * 1024
BUSY_SWITCH = 0.0002

P = ParamSpec("P")
T = TypeVar("T")


async def by_size(size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`: inline up to `ON_LOOP_MAX` octets, in a worker thread above."""
    if size <= ON_LOOP_MAX:
        return fn(*args, **kwargs)
    return await off_loop(fn, *args, **kwargs)


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in the default executor, with the short switch interval
    while it runs (module docstring)."""
    with _busy():
        return await asyncio.to_thread(fn, *args, **kwargs)


_lock = threading.Lock()
_running = 0
_usual = 0.0


@contextmanager
def _busy() -> Iterator[None]:
    global _running, _usual
    with _lock:
        if _running == 0:
            _usual = sys.getswitchinterval()
            sys.setswitchinterval(min(_usual, BUSY_SWITCH))
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                sys.setswitchinterval(_usual)
