"""One worker process of `mss serve`: its own event loop on listeners it did not bind.

Owns: `run_worker(...)`, what a process forked by `server.supervisor` runs, and
`worker_share(cfg, count)`, the part of the per-process caps one worker gets.

Invariants:
- A worker serves the listening sockets the supervisor bound and never binds
  one itself; every worker waits in `accept` on every listener it serves, and
  the kernel gives each new connection to one of them.
- Worker 0 is the primary: the only process that runs the scheduler's jobs and
  the HTTP listener (health, metrics, autoconfig, directory API), so jobs run
  once, the directory's start-up rebuild runs once, and `/metrics` counts one
  process's requests coherently. When it dies, its replacement is worker 0
  again. Every worker keeps its own in-memory state current: the trust-list
  poll, the folder change watch (an IDLE in one worker sees a delivery made
  through another within 1 s: they share the database) and the data-key watch.
- Per-process limits are divided among the workers so that the configured
  figure holds for the whole server: each worker admits `cap // count` (at
  least 1) connections for every SMTP and IMAP connection cap (in all, before
  login, before login per address, per BAL), and runs `auth.max_verifications
  // count` (at least 1) argon2id verifications at once. Since a client's
  connections may all land on one worker, one client can meet a cap at
  `cap // count`. Login failures and lockouts are rows in the database, shared
  by every worker; the one-attempt-at-a-time turn per client address is per
  worker.
- SIGTERM and SIGINT stop the worker cleanly (`server.app.stop`); SIGHUP reloads
  the configuration (`server.app.reload`). It writes one line (its index) on the
  ready pipe once every listener serves, and logs with `[worker N]` in each line.
- With `server.pin_workers` (the default), each worker runs on a CPU of its own
  when there are enough for all of them, its default executor on all of them
  (`server.cpu_affinity`).
- SQLite with several processes: WAL, `busy_timeout` and `BEGIN IMMEDIATE` for
  every write transaction (`imap_store.store.db`) serialise the writers of all
  workers.

Ref: docs/architecture.md "Storage", "Contracts" (SIGHUP, exit codes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import replace

from .app import reload, start, stop
from .config import Config
from .cpu_affinity import pin_worker, unpinned_executor
from .worker_role import WorkerRole, assume

log = logging.getLogger("mss.worker")

# The `[limits]` connection caps that are counts of this process's connections.
DIVIDED_CAPS = tuple(f"{kind}_{cap}" for kind in ("smtp", "imap")
                     for cap in ("max_connections", "max_preauth_connections",
                                 "max_preauth_per_address", "max_connections_per_bal"))


def worker_share(cfg: Config, count: int) -> Config:
    """The configuration one of `count` workers runs with: its part of each cap."""
    if count == 1:
        return cfg
    limits = replace(cfg.limits, **{key: max(1, getattr(cfg.limits, key) // count)
                                    for key in DIVIDED_CAPS})
    total = cfg.auth.max_verifications or os.cpu_count() or 1
    auth = replace(cfg.auth, max_verifications=max(1, total // count))
    return replace(cfg, limits=limits, auth=auth)


def _tag_logging(role: WorkerRole) -> None:
    fmt = logging.Formatter(f"%(asctime)s %(levelname)s [worker {role.index}] "
                            "%(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(fmt)


async def _serve(cfg: Config, role: WorkerRole, sockets: Mapping[str, socket.socket],
                 ready_fd: int, cpus: frozenset[int] | None) -> None:
    if cpus is not None:  # pinned: work off the loop runs on every CPU (cpu_affinity)
        asyncio.get_running_loop().set_default_executor(unpinned_executor(cpus))
    running = await start(worker_share(cfg, role.count), sockets=sockets,
                          primary=role.primary)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.add_signal_handler(signal.SIGHUP, reload, running)
    log.info("worker %d of %d serving (pid %d)%s", role.index, role.count, os.getpid(),
             ": scheduler and HTTP here" if role.primary else "")
    os.write(ready_fd, f"{role.index}\n".encode())
    os.close(ready_fd)
    await done.wait()
    log.info("stopping")
    await stop(running, float(cfg.limits.shutdown_grace))


def run_worker(cfg: Config, role: WorkerRole, sockets: Mapping[str, socket.socket],
               ready_fd: int) -> None:
    """Serve until told to stop; exceptions go up to the supervisor's child code."""
    assume(role)
    _tag_logging(role)
    cpus = pin_worker(role.index, role.count) if cfg.server.pin_workers else None
    if not role.primary and "http" in sockets:  # only the primary serves HTTP
        sockets = dict(sockets)
        sockets.pop("http").close()
    asyncio.run(_serve(cfg, role, sockets, ready_fd, cpus))
