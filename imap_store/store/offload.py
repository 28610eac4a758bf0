"""CPU-bound work on message octets: on the event loop when small, in a worker thread when large.

Owns: `by_size(size, fn, *args)` and its threshold `ON_LOOP_MAX`, the one rule
the gateway (DATA assembly, message facts, trace headers) and the store
(meta and sealing) follow for work proportional to a message's size.

Invariants: work on at most `ON_LOOP_MAX` octets runs on the event loop (a
thread hop would cost more than the work, and every hop waits for the GIL);
above it, it runs in the default executor so that no loop step is
proportional to the message (a 25 MB message never holds the loop).

Ref: docs/architecture.md "Conventions" 13 (hot paths written for speed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

ON_LOOP_MAX = 128 * 1024

P = ParamSpec("P")
T = TypeVar("T")


async def by_size(size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`: inline up to `ON_LOOP_MAX` octets, in a worker thread above."""
    if size <= ON_LOOP_MAX:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)
