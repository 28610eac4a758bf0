"""`mss serve`: one process, or a supervisor and `server.workers = N` worker processes.

Owns: `serve(cfg) -> exit code` and the `Supervisor` of the worker processes.

Invariants:
- With one worker, `mss serve` is one process (`server.app.serve_forever`).
- With several, the listening sockets are bound here, before any worker
  exists: each worker has its own socket on every port (`SO_REUSEPORT`, so the
  kernel spreads new connections over the workers; one shared socket let one
  worker's accept loop take a whole burst of connections, which then stayed
  on it), bound to the same port (`port = 0`: the one the first socket got),
  except HTTP, which only worker 0 serves; a privileged port is bound by the
  process started with the right to. Linux lets only processes of the same
  user join a `SO_REUSEPORT` group. The workers are
  forked from this process, which has no event loop, thread or database
  connection (so nothing is half-copied), and inherit the sockets and a ready
  pipe; `server.workers` is what they run.
- Start-up: the KEK is checked here (a refused one exits 2 naming `keys.kek`),
  worker 0 is started first, then the others; `mss: serving {...}` is printed
  once every worker is ready. A worker that exits before it is ready ends the
  start: the others are stopped and its exit code is the supervisor's.
- A worker that exits afterwards is replaced by one with the same index (so
  exactly one primary runs the scheduler and HTTP), at most once per second per
  index.
- SIGTERM or SIGINT: the supervisor closes its copies of the sockets (new
  connections are refused once the workers closed theirs), sends SIGTERM to
  every worker, waits up to `limits.shutdown_grace` + 10 s, then kills what is
  left; exit 0 when every worker stopped cleanly, else 1.
- SIGHUP: the supervisor re-reads the configuration for the workers it will
  start later (a bad file keeps the old one) and sends SIGHUP to every worker,
  which reloads or refuses and logs why.
- A worker receives SIGTERM when the supervisor dies (Linux `PR_SET_PDEATHSIG`):
  no orphan keeps serving the ports.

Ref: docs/architecture.md "Contracts" (exit codes, SIGHUP, listeners).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence

from .app import serve_forever
from .config import Config, ConfigError, load, worker_count
from .storage import key_provider
from .worker_role import WorkerRole
from .workers import run_worker

log = logging.getLogger("mss.supervisor")

SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD}
SERVED = ("submission", "submissions", "smtp", "imap", "imaps", "http")  # the ports line's order
BACKLOG = 100  # asyncio's default for the listeners it binds itself
RESTART_INTERVAL = 1.0  # seconds between two starts of one worker index
STOP_MARGIN = 10.0  # beyond shutdown_grace, before the workers left are killed
PR_SET_PDEATHSIG = 1


def serve(cfg: Config) -> int:
    """Run `mss serve` until SIGTERM or SIGINT; the exit code."""
    count = worker_count(cfg)
    if count == 1:
        asyncio.run(serve_forever(cfg))
        return 0
    key_provider(cfg)  # a refused KEK stops the start here, once
    return Supervisor(cfg, count, bind_listeners(cfg, count)).run()


def bind_listeners(cfg: Config, count: int) -> list[dict[str, socket.socket]]:
    """Every enabled listener served by this version, bound as `create_server` would,
    once per worker (`SO_REUSEPORT` on one port); HTTP for worker 0 only."""
    bound: list[dict[str, socket.socket]] = [{} for _ in range(count)]
    for name in SERVED:
        conf = getattr(cfg.listeners, name)
        if not conf.enabled:
            continue
        family = socket.AF_INET6 if ":" in conf.host else socket.AF_INET
        port = conf.port
        for index in range(1 if name == "http" else count):
            try:
                sock = socket.create_server((conf.host, port), family=family, backlog=BACKLOG,
                                            reuse_port=True)
            except OSError as exc:
                for sockets in bound:
                    for s in sockets.values():
                        s.close()
                raise ConfigError(f"listeners.{name}: cannot listen on {conf.host}:{port}: "
                                  f"{exc.strerror}") from None
            sock.setblocking(False)
            port = sock.getsockname()[1]
            bound[index][name] = sock
    return bound


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


class Supervisor:
    """The parent of `count` workers sharing `sockets`."""

    def __init__(self, cfg: Config, count: int,
                 sockets: Sequence[Mapping[str, socket.socket]]) -> None:
        self.cfg, self.count = cfg, count
        self.sockets = [dict(own) for own in sockets]  # per worker index
        self.pids: dict[int, int] = {}  # pid -> worker index
        self.started: dict[int, float] = {}  # index -> monotonic time of its last start
        self.due: dict[int, float] = {}  # index -> when to start it again
        self.ready: set[int] = set()
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        self._pending = b""
        self._parent = os.getpid()

    # --- the parent's loop -----------------------------------------------------------

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            code = self._start_all()
            if code is not None:
                return code
            ports = {name: s.getsockname()[1] for name, s in self.sockets[0].items()}
            log.info("listening: %s with %d workers", ports, self.count)
            print(f"mss: serving {ports}", flush=True)
            while True:
                sig = signal.sigtimedwait(SIGNALS, 0.2)
                if sig is not None and sig.si_signo in (signal.SIGTERM, signal.SIGINT):
                    return self._stop_all()
                if sig is not None and sig.si_signo == signal.SIGHUP:
                    self._reload()
                self._read_ready()
                self._reap(restart=True)
                self._restart_due()
        finally:
            self._close_sockets()
            os.close(self._ready_r)
            os.close(self._ready_w)

    def _start_all(self) -> int | None:
        """Worker 0, then the others; None when all are ready, else the exit code."""
        for batch in ([0], list(range(1, self.count))):
            for index in batch:
                self._spawn(index)
            while not self.ready.issuperset(batch):
                sig = signal.sigtimedwait(SIGNALS, 0.1)
                if sig is not None and sig.si_signo in (signal.SIGTERM, signal.SIGINT):
                    self._stop_all()
                    return 0
                if sig is not None and sig.si_signo == signal.SIGHUP:
                    self._reload()
                self._read_ready()
                failed = self._reap(restart=False)
                if failed is not None:
                    self._stop_all()
                    return failed if failed > 0 else 1
                self._restart_due()
        return None

    def _spawn(self, index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            self._child(index)
        self.pids[pid] = index
        self.started[index] = time.monotonic()
        self.due.pop(index, None)

    def _read_ready(self) -> None:
        try:
            while chunk := os.read(self._ready_r, 4096):
                self._pending += chunk
        except BlockingIOError:
            pass
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            index = int(line)
            if index not in self.ready:
                self.ready.add(index)
                log.info("worker %d ready", index)

    def _reap(self, *, restart: bool) -> int | None:
        """Collect exited workers and plan their replacement; without `restart`, the exit
        code of one that died before it was first ready (the start fails)."""
        failed = None
        while self.pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            index = self.pids.pop(pid, None)
            if index is None:
                continue
            code = _exit_code(status)
            was_ready = index in self.ready
            self.ready.discard(index)
            if not (was_ready or restart):  # a first start failed: the start ends
                failed = code if failed is None else failed
                continue
            log.warning("worker %d (pid %d) exited (%s); starting it again", index, pid,
                        f"signal {-code}" if code < 0 else f"code {code}")
            self.due[index] = self.started[index] + RESTART_INTERVAL
        return failed

    def _restart_due(self) -> None:
        now = time.monotonic()
        for index, when in list(self.due.items()):
            if when <= now:
                self._spawn(index)

    def _reload(self) -> None:
        try:
            self.cfg = load(self.cfg.path)
        except ConfigError:
            pass  # each worker logs why it refuses the file
        for pid in self.pids:
            os.kill(pid, signal.SIGHUP)

    def _close_sockets(self, keep: int | None = None) -> None:
        """Close this process's copies of the listening sockets (but worker `keep`'s)."""
        for index, own in enumerate(self.sockets):
            if index != keep:
                for s in own.values():
                    s.close()

    def _stop_all(self) -> int:
        self._close_sockets()
        for pid in self.pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.cfg.limits.shutdown_grace + STOP_MARGIN
        clean = True
        while self.pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if time.monotonic() > deadline:
                    for left in self.pids:
                        log.warning("worker %d (pid %d) did not stop; killing it",
                                    self.pids[left], left)
                        os.kill(left, signal.SIGKILL)
                    deadline = float("inf")
                signal.sigtimedwait({signal.SIGCHLD}, 0.1)
                continue
            if self.pids.pop(pid, None) is not None and _exit_code(status) != 0:
                clean = False
        log.info("stopped")
        return 0 if clean else 1

    # --- the worker's side of the fork ------------------------------------------------

    def _child(self, index: int) -> None:
        code = 1
        try:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until its loop handles it
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != self._parent:  # the supervisor died before prctl
                os._exit(0)
            os.close(self._ready_r)
            self._close_sockets(keep=index)  # the other workers' sockets are theirs
            run_worker(self.cfg, WorkerRole(index, self.count), self.sockets[index],
                       self._ready_w)
            code = 0
        except ConfigError as exc:
            print(f"mss: error: {exc}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
