"""Each worker on a CPU of its own: `server.cpu_affinity`.

`pin_worker` acts on the calling thread (and the threads it starts), so each case
runs in a thread of its own and the test process stays where it was.

Ref: server/cpu_affinity.py; Linux sched_setaffinity(2).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from server.cpu_affinity import pin_worker, unpinned_executor

ALLOWED = frozenset(os.sched_getaffinity(0))


def in_thread(fn: Callable[[], Any]) -> Any:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(10)
    return out[0]


def test_worker_takes_the_cpu_of_its_index_and_its_threads_inherit_it() -> None:
    def case() -> tuple[object, set[int], set[int]]:
        before = pin_worker(1, 2)
        child: list[set[int]] = []
        thread = threading.Thread(target=lambda: child.append(os.sched_getaffinity(0)))
        thread.start()
        thread.join(10)
        return before, os.sched_getaffinity(0), child[0]

    before, mine, child = in_thread(case)
    if len(ALLOWED) < 2:  # two workers cannot each have a CPU: nothing pinned
        assert (before, mine, child) == (None, ALLOWED, ALLOWED)
        return
    second = sorted(ALLOWED)[1]
    assert before == ALLOWED
    assert mine == {second} and child == {second}
    assert os.sched_getaffinity(0) == ALLOWED  # the test's own thread is untouched


def test_one_worker_or_more_workers_than_cpus_is_not_pinned() -> None:
    for count in (1, len(ALLOWED) + 1):
        assert in_thread(lambda count=count: (pin_worker(0, count),
                                              os.sched_getaffinity(0))) == (None, ALLOWED)


def test_offload_threads_of_a_pinned_worker_run_on_every_cpu() -> None:
    def case() -> tuple[set[int], set[int]]:
        cpus = pin_worker(0, 2)
        pool = unpinned_executor(cpus if cpus is not None else ALLOWED)
        try:
            return os.sched_getaffinity(0), pool.submit(os.sched_getaffinity, 0).result(10)
        finally:
            pool.shutdown()

    mine, offload = in_thread(case)
    assert offload == ALLOWED
    assert mine == ({sorted(ALLOWED)[0]} if len(ALLOWED) >= 2 else ALLOWED)


def test_a_refusal_to_pin_is_logged_and_the_worker_runs_unpinned(monkeypatch, caplog) -> None:
    """The kernel may refuse (a seccomp profile, a cpuset changed meanwhile): the
    worker goes on where it was, and says so."""

    def refuse(pid: int, cpus: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    assert in_thread(lambda: (pin_worker(0, 2), os.sched_getaffinity(0))) == (None, ALLOWED)
    if len(ALLOWED) >= 2:
        assert "worker 0: not pinned to CPU" in caplog.text


def test_a_platform_without_sched_setaffinity_is_not_pinned(monkeypatch) -> None:
    monkeypatch.delattr(os, "sched_setaffinity")
    assert pin_worker(0, 2) is None
