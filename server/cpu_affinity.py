"""Each worker process on a CPU of its own (`server.pin_workers`).

Owns: `pin_worker(index, count)`, which binds the calling worker to one CPU, and
`unpinned_executor(cpus)`, the default executor such a worker gives its event loop.

Why: a worker's event loop and its database writer thread (SQLite) take turns on
one interpreter lock. Left to the kernel, the two threads run on different CPUs and
every hand-over of the lock wakes a thread on the other CPU, which costs far more in
a virtual machine than a switch on the same CPU. Pinned, on a 2-core virtual
machine, the server answered 18 % more IMAP commands under imaptest (clients logged
in) for 10 % less CPU per command, and 7 % more SMTP messages (bench/README.md, "Each
worker on a CPU of its own").

Invariants:
- A worker is pinned only when every worker can have a CPU of its own: at least
  2 workers, and no more workers than the CPUs the server may run on
  (`os.sched_getaffinity`, which a container's cpuset or `taskset` narrows).
  Worker `index` takes the `index`-th of those CPUs; the threads it starts later
  (the writer, the read pool) inherit it.
- The threads of the event loop's default executor (argon2id verifications,
  large decryptions and parses: `asyncio.to_thread`) run on every allowed CPU
  again: that work does not hold the interpreter lock, and concurrent logins in
  one worker use every core.
- Pinning is a tuning: a platform without `sched_setaffinity`, or a refusal, is
  logged and the worker runs unpinned.

Ref: Linux sched_setaffinity(2).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("mss.worker")


def pin_worker(index: int, count: int) -> frozenset[int] | None:
    """Bind the calling thread (and the threads it starts afterwards) to the CPU of
    worker `index` of `count`; the CPUs allowed before, or None when not pinned."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if count < 2 or count > len(allowed):
        return None
    cpu = allowed[index]
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        log.warning("worker %d: not pinned to CPU %d: %s", index, cpu, exc)
        return None
    log.info("worker %d pinned to CPU %d", index, cpu)
    return frozenset(allowed)


def _release(cpus: frozenset[int]) -> None:
    os.sched_setaffinity(0, cpus)


def unpinned_executor(cpus: frozenset[int]) -> ThreadPoolExecutor:
    """A thread pool like asyncio's default one whose threads may run on `cpus`."""
    return ThreadPoolExecutor(min(32, len(cpus) + 4), thread_name_prefix="mss-offload",
                              initializer=_release, initargs=(cpus,))
