"""Per SMTP message and per IMAP command: SQL statements, transactions, fsyncs, hops, CPU.

Starts an operator in-process the way the tests do (`tests.support`: SQLite
under a temporary folder, or a fresh database on the PostgreSQL server of
`MSS_TEST_DATABASE_URL`) and counts, for each phase, on the running server:

- SQL statements: SQLAlchemy `before_cursor_execute` events on the server's
  engines (`services.db.read_engine`, `write_engine`); the `BEGIN` that the
  SQLite engines send themselves is counted as a transaction, not a statement;
  an `executemany` counts as one statement;
- rows: the rows those statements returned (what the driver adapter
  buffered after each execute);
- transactions: SQLAlchemy `begin` events (every transaction, reads included),
  and `commit` events apart (the rest end in a rollback); a read unit run as
  `single` (one statement, no BEGIN: its own implicit transaction) is not
  counted;
- fsyncs: `fsync` + `fdatasync` system calls. The harness re-runs itself under
  `strace -f --seccomp-bpf -ttt -y -e trace=fsync,fdatasync` (only those two
  calls stop the process, so the rest runs at full speed), and each call is
  given to the phase whose time window holds it (the JSON also says which
  file: SQLite WAL or database, PostgreSQL WAL); `--fsync none` skips strace.
  On PostgreSQL the commits are made durable by the database's backends:
  during each phase a second strace is attached to the backends of the
  operator's database (those open, found in
  `pg_stat_activity`, and each new one as the server's pool opens it, before
  its first use) and their calls are counted too. Not counted: the
  PostgreSQL WAL writer and checkpointer, which the cluster's databases share;
- the group-commit writer of the store (trees that have one), which runs its
  statements without SQLAlchemy: its statements, rows, transactions and
  commits are counted by wrapping its connection classes, as the messages' and
  commands' own work;
- thread hops: work handed from the event loop to another thread: every item
  put on an aiosqlite connection's queue (one statement, fetch, commit,
  rollback or cursor close each) and every `loop.run_in_executor` call on the
  server's loop (`asyncio.to_thread` included). The counting wraps aiosqlite's
  queue and the loop's method in this process only; the product is not changed;
- CPU ms: `time.process_time()` of this process (every thread) over the phase:
  the server's CPU, PostgreSQL's own excluded.

Work done by the server's named background tasks (the folder change watch,
the trust-list poll) is counted apart ("background") by the name of the
asyncio task that issued it, so that a periodic poll is not charged to the
command that happened to run beside it.

Phases. SMTP: a child process (aiosmtplib; its CPU stays out of this process)
opens `--connections` submission sessions (connect, EHLO, STARTTLS, EHLO, AUTH
PLAIN: "SMTP session", per connection), then sends `--messages` messages of
`--size` octets over them, each to a local BAL ("SMTP message", per message:
MAIL, RCPT, DATA, the policy checks and the durable encrypted commit). IMAP: a
child process with raw IMAPS connections (like `tests/protocol/imap_support.py`
`Raw`) logs in to a BAL whose INBOX and Sent hold `--mailbox` messages each
(seeded with the store's append) and runs each command type `--repeat` times;
per command. Before any phase, a warm-up of the same work on other BALs
(not counted) opens the pools' connections and fills the caches.

    cd <tree> && .venv/bin/python <this checkout>/bench/count_costs.py [--messages 200]
        [--connections 10] [--mailbox 200] [--repeat 50] [--json out.json]
    .venv/bin/python bench/count_costs.py --compare RESULT.json [RESULT.json ...]

The code measured is the tree first on `PYTHONPATH`, or else the current
directory: this script puts that tree first on `sys.path`, checks that `server`
and `tests` come from it, and prints it (path, git commit, digest of its
Python files). `--compare` prints Markdown tables from the JSON of runs of two
trees (the first tree named is "before"; runs of the same tree and database
are averaged).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _tree_under_test() -> Path:
    first = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    return Path(first or os.getcwd()).resolve()


TREE = _tree_under_test()
sys.path.insert(0, str(TREE))

SMTP_CHILD = r"""
import asyncio, json, ssl, sys
import aiosmtplib
port, cafile, login, password, rcpt, size = sys.argv[1:7]
size = int(size)
body = (f"From: <{login}>\r\nTo: <{rcpt}>\r\nSubject: count\r\n\r\n"
        + ("x" * 78 + "\r\n") * max(1, size // 80)).encode()
ctx = ssl.create_default_context(cafile=cafile)

async def main():
    loop = asyncio.get_running_loop()
    clients = []
    while True:
        req = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
        if req["op"] == "open":
            async def one():
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=int(port), tls_context=ctx,
                                       start_tls=True, timeout=120)
                await smtp.connect()
                await smtp.login(login, password)
                return smtp
            clients = await asyncio.gather(*(one() for _ in range(req["connections"])))
        elif req["op"] == "send":
            left = req["messages"]
            async def worker(smtp):
                nonlocal left
                while left > 0:
                    left -= 1
                    errors, _ = await smtp.sendmail(login, [rcpt], body)
                    if errors:
                        raise RuntimeError(errors)
            await asyncio.gather(*(worker(c) for c in clients))
        elif req["op"] == "quit":
            for c in clients:
                await c.quit()
            print(json.dumps({"ok": True}), flush=True)
            return
        print(json.dumps({"ok": True}), flush=True)

asyncio.run(main())
"""

IMAP_CHILD = r"""
import json, re, socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
LITERAL_END = re.compile(rb"~?\{(\d+)\}\Z")

class Conn:
    def __init__(self):
        sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.buf, self.n = b"", 0
        self.line()

    def fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def raw_line(self):
        while True:
            at = self.buf.find(b"\r\n")
            if at >= 0:
                line, self.buf = self.buf[:at], self.buf[at + 2:]
                return line
            self.fill()

    def line(self):
        line = self.raw_line()
        while (m := LITERAL_END.search(line)) is not None:
            size = int(m.group(1))
            while len(self.buf) < size:
                self.fill()
            data, self.buf = self.buf[:size], self.buf[size:]
            line += b"\r\n" + data + self.raw_line()
        return line

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"c%d" % self.n
        untagged = 0
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            while not (line := self.line()).startswith(b"+"):
                if line.startswith(tag + b" "):
                    raise RuntimeError(line.decode(errors="replace"))
                untagged += 1
            self.sock.sendall(literal + b"\r\n")
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(text.decode() + ": " + line.decode(errors="replace"))
                return untagged
            untagged += 1

conns = {}
for raw in sys.stdin:
    req = json.loads(raw)
    try:
        untagged = 0
        if req["op"] == "open":
            conn = conns[req["name"]] = Conn()
            conn.cmd(('LOGIN "%s" "%s"' % (req["user"], req["password"])).encode())
        elif req["op"] == "run":
            conn = conns[req["name"]]
            for item in req["commands"]:
                if isinstance(item, str):
                    untagged += conn.cmd(item.encode())
                else:
                    untagged += conn.cmd(item[0].encode(), item[1].encode())
        elif req["op"] == "quit":
            for conn in conns.values():
                conn.cmd(b"LOGOUT")
                conn.sock.close()
            print(json.dumps({"ok": True}), flush=True)
            break
        out = {"ok": True, "untagged": untagged}
    except Exception as exc:
        out = {"ok": False, "error": repr(exc)}
    print(json.dumps(out), flush=True)
"""

FSYNC_LINE = re.compile(
    r"^(?:(\d+)\s+)?(\d+\.\d+)\s+(fsync|fdatasync)\(\d+(?:<([^>]*)>)?")
WAL_SEGMENT = re.compile(r"/pg_wal/[0-9A-F]{24}$")


def fsync_event(line: str) -> tuple[str, float, str] | None:
    """(thread id, time, "call: file kind") of one strace line, if it is an fsync."""
    m = FSYNC_LINE.match(line)
    if m is None:
        return None
    path = m.group(4) or ""
    if path.endswith("-wal"):
        kind = "SQLite WAL"
    elif path.endswith(".sqlite3"):
        kind = "SQLite database"
    elif WAL_SEGMENT.search(path):
        kind = "PostgreSQL WAL"
    else:
        kind = path.rsplit("/", 1)[-1] or "?"
    return m.group(1) or "", float(m.group(2)), f"{m.group(3)}: {kind}"


def in_windows(events: list[tuple[float, str]],
               windows: list[tuple[float, float]]) -> Counter[str]:
    return Counter(kind for t, kind in events if any(t0 <= t <= t1 for t0, t1 in windows))


def imap_message(n: int, size: int) -> bytes:
    """A plain-text message of about `size` octets with the usual header fields."""
    head = (f"Date: Tue, 5 Mar 2024 10:{n % 60:02d}:00 +0100\r\n"
            f'From: "Dr. Sender {n}" <sender{n}@op-b.mssante.fr>\r\n'
            f"To: Bob <bob@op-a.mssante.fr>, carol@op-b.mssante.fr\r\n"
            f"Subject: Compte rendu {n}\r\nMessage-ID: <m{n}@op-b.mssante.fr>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    line = "Ligne de compte rendu, resultat normal, rien a signaler.\r\n"
    return (head + line * max(1, (size - len(head)) // len(line))).encode()


# ---------------------------------------------------------------- counting


@dataclass
class Phase:
    name: str
    unit: str
    ops: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    background: Counter[str] = field(default_factory=Counter)
    statements: Counter[str] = field(default_factory=Counter)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    windows: list[tuple[float, float]] = field(default_factory=list)


class Meter:
    """Counters fed by the SQLAlchemy events, aiosqlite's queue and the loop's executor."""

    def __init__(self) -> None:
        self.live: Counter[str] = Counter()
        self.background: Counter[str] = Counter()
        self.background_tasks: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()
        self.phases: dict[str, Phase] = {}
        self.pg: PgTracer | None = None

    def add(self, key: str, n: int = 1) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        name = task.get_name() if task is not None else ""
        if name and not name.startswith("Task-"):
            self.background[key] += n
            self.background_tasks[f"{name}: {key}"] += n
        else:
            self.live[key] += n

    def on_statement(self, statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        if verb == "BEGIN":
            self.add("begin_statement")
            return
        self.add("sql")
        self.add(f"sql_{verb}")
        self.statements[" ".join(statement.split())[:110]] += 1

    @asynccontextmanager
    async def measure(self, name: str, unit: str, ops: int,
                      enabled: bool = True) -> AsyncIterator[None]:
        if not enabled:
            yield
            return
        if self.pg is not None:
            await self.pg.attach_new()
        phase = self.phases.setdefault(name, Phase(name, unit))
        live, bg, stmts = Counter(self.live), Counter(self.background), Counter(self.statements)
        cpu0, wall0, t0 = time.process_time(), time.perf_counter(), time.time()
        yield
        t1, wall1, cpu1 = time.time(), time.perf_counter(), time.process_time()
        if self.pg is not None:
            phase.counts["pg_backends_untraced"] += len(await self.pg.backends() - self.pg.traced)
        phase.ops += ops
        phase.cpu_s += cpu1 - cpu0
        phase.wall_s += wall1 - wall0
        phase.windows.append((t0, t1))
        phase.counts.update(self.live - live)
        phase.background.update(self.background - bg)
        phase.statements.update(self.statements - stmts)


class _CountingQueue:
    """Stands in front of an aiosqlite connection's queue to its worker thread."""

    def __init__(self, queue: Any, meter: Meter) -> None:
        self._queue, self._meter = queue, meter

    def put_nowait(self, item: Any) -> None:
        self._meter.add("hop_sqlite")
        self._queue.put_nowait(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def instrument_aiosqlite(meter: Meter) -> None:
    import aiosqlite.core

    original = aiosqlite.core.Connection.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        original(self, *args, **kwargs)
        self._tx = _CountingQueue(self._tx, meter)

    aiosqlite.core.Connection.__init__ = __init__  # type: ignore[method-assign]


def instrument_loop(meter: Meter, loop: asyncio.AbstractEventLoop) -> None:
    original = loop.run_in_executor

    def run_in_executor(executor: Any, func: Any, *args: Any) -> Any:
        meter.add("hop_executor")
        return original(executor, func, *args)

    loop.run_in_executor = run_in_executor  # type: ignore[method-assign]


def instrument_engines(meter: Meter, db: Any) -> None:
    from sqlalchemy import event

    engines = {id(e): e for e in (db.read_engine, db.write_engine)}
    for engine in engines.values():
        sync = engine.sync_engine

        def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            meter.on_statement(statement)

        def after(_conn: Any, cursor: Any, *_rest: Any) -> None:
            # the rows the driver adapter buffered (aiosqlite and asyncpg alike)
            meter.add("rows", len(getattr(cursor, "_rows", None) or ()))

        event.listen(sync, "before_cursor_execute", before)
        event.listen(sync, "after_cursor_execute", after)
        event.listen(sync, "begin", lambda _conn: meter.add("begin"))
        event.listen(sync, "commit", lambda _conn: meter.add("commit"))
        event.listen(sync, "rollback", lambda _conn: meter.add("rollback"))
        if not db.is_sqlite:
            event.listen(sync, "connect", lambda _dbapi, record: _on_pg_connect(meter, record))


def instrument_writer(meter: Meter) -> None:
    """Count the statements and transactions of the group-commit writer (a tree that has
    one: `imap_store.store.group_commit`), which bypasses SQLAlchemy. Its work is the
    messages' and commands' own, so it is counted as theirs, whichever task or thread
    (the SQLite writer thread) runs it; its thread hop is the loop's `run_in_executor`."""
    try:
        from imap_store.store import group_commit
    except ImportError:
        return
    def statement(orig: Any) -> Any:
        async def method(self: Any, sql: str, *args: Any) -> Any:
            verb = sql.lstrip().split(None, 1)[0].upper()
            meter.live["sql"] += 1
            meter.live[f"sql_{verb}"] += 1
            meter.statements[" ".join(sql.split())[:110]] += 1
            result = await orig(self, sql, *args)
            if isinstance(result, list):
                meter.live["rows"] += len(result)
            return result
        return method

    def ending(orig: Any, key: str) -> Any:
        async def method(self: Any) -> Any:
            meter.live[key] += 1
            return await orig(self)
        return method

    for cls in (group_commit._SqliteConn, group_commit._PgConn):  # noqa: SLF001
        for name in ("fetch", "execute", "executemany"):
            setattr(cls, name, statement(getattr(cls, name)))
        for key in ("begin", "commit", "rollback"):
            setattr(cls, key, ending(getattr(cls, key), key))
    instrument_reader(meter, statement, ending)


def instrument_reader(meter: Meter, statement: Any, ending: Any) -> None:
    """Count the read units of `Database.reader` (a tree that has one:
    `imap_store.store.read_pool`): their statements, and one transaction (begin and
    rollback) each but for `single` units. On SQLite the pool thread's connection is
    a `_SqliteConn`, whose statements and rollback are counted above; its `begin` is
    its own. Its hop is the loop's `run_in_executor`."""
    try:
        from imap_store.store import read_pool
    except ImportError:
        return
    reader = read_pool._SqliteReader  # noqa: SLF001
    reader.begin = ending(reader.begin, "begin")  # type: ignore[method-assign]
    for name in ("fetch", "execute", "executemany"):
        setattr(read_pool._PgReadTx, name, statement(getattr(read_pool._PgReadTx, name)))  # noqa: SLF001
    run = read_pool.ReadPool.run

    async def counted(self: Any, unit: Any, **options: Any) -> Any:
        if self.sqlite_path is None and not options.get("single"):
            # PostgreSQL: the transaction asyncpg opens (none for a `single` unit)
            meter.live["begin"] += 1
            meter.live["rollback"] += 1
        return await run(self, unit, **options)

    read_pool.ReadPool.run = counted  # type: ignore[method-assign]


def _on_pg_connect(meter: Meter, record: Any) -> None:
    """A new PostgreSQL connection: trace its backend before the server uses it."""
    from sqlalchemy.util import await_only

    if meter.pg is not None:
        await_only(meter.pg.attach({record.driver_connection.get_server_pid()}))


class PgTracer:
    """strace attached to the PostgreSQL backends serving the operator's database."""

    def __init__(self, base_url: str, dbname: str, folder: Path) -> None:
        self.base_url = base_url.replace("postgresql+asyncpg://", "postgresql://")
        self.dbname, self.folder = dbname, folder
        self.traced: set[int] = set()
        self.attached: dict[int, asyncio.Future[None]] = {}
        self.procs: list[tuple[asyncio.subprocess.Process, Path]] = []
        self.conn: Any = None

    async def _conn(self) -> Any:
        import asyncpg

        if self.conn is None:
            self.conn = await asyncpg.connect(self.base_url)
        return self.conn

    async def backends(self) -> set[int]:
        rows = await (await self._conn()).fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.dbname)
        return {r["pid"] for r in rows}

    async def attach_new(self) -> None:
        await self.attach(await self.backends())

    async def attach(self, pids: set[int]) -> None:
        """Trace `pids` (one strace and one output file per call); return once traced."""
        new = sorted(pids - self.traced)
        waits = [self.attached[pid] for pid in pids & self.traced]
        if new:
            self.traced.update(new)  # before any await: concurrent calls see them
            done = asyncio.get_running_loop().create_future()
            for pid in new:
                self.attached[pid] = done
            out = self.folder / f"pg-{len(self.attached)}-{new[0]}.trace"
            argv = ["strace", "-qq", "-ttt", "-y", "-e", "trace=fsync,fdatasync",
                    "-e", "signal=none", "-o", str(out)]
            for pid in new:
                argv += ["-p", str(pid)]
            proc = await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.DEVNULL)
            self.procs.append((proc, out))
            deadline = time.monotonic() + 10
            while not all(_traced(pid) for pid in new):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"strace did not attach to PostgreSQL backends {new}")
                await asyncio.sleep(0.01)
            done.set_result(None)
        for wait in waits:
            await wait

    async def stop(self) -> list[tuple[float, str]]:
        """Detach; (time, kind) of every fsync/fdatasync seen."""
        stamps: list[tuple[float, str]] = []
        for proc, out in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            await proc.wait()
            for line in out.read_text().splitlines():
                if (ev := fsync_event(line)) is not None:
                    stamps.append(ev[1:])
        if self.conn is not None:
            await self.conn.close()
        return stamps


def _traced(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone: nothing left to trace
    m = re.search(r"^TracerPid:\s+(\d+)", status, re.M)
    return bool(m and m.group(1) != "0")


# ---------------------------------------------------------------- clients


class Child:
    """A client child process driven by JSON lines on its stdin."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, script: str, *args: str) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        return cls(proc)

    async def request(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client child exited during {req['op']}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"client child: {answer.get('error')}")
        return answer

    async def close(self) -> None:
        await self.request(op="quit")
        await self.proc.wait()


async def smtp_phases(meter: Meter, op: Any, sender: str, rcpt: str, args: argparse.Namespace,
                      *, connections: int, messages: int, enabled: bool,
                      children: list[int]) -> None:
    from tests.support import PASSWORD

    child = await Child.start(SMTP_CHILD, str(op.ports["submission"]), str(op.ca_file),
                              sender, PASSWORD, rcpt, str(args.size))
    children.append(child.proc.pid)
    async with meter.measure("SMTP session (connect, STARTTLS, AUTH)", "connection",
                             connections, enabled):
        await child.request(op="open", connections=connections)
    async with meter.measure(f"SMTP message ({args.size} B: MAIL, RCPT, DATA)", "message",
                             messages, enabled):
        await child.request(op="send", messages=messages)
    await child.close()


async def imap_phases(meter: Meter, op: Any, user: str, args: argparse.Namespace, *,
                      repeat: int, enabled: bool, children: list[int]) -> None:
    from tests.support import PASSWORD

    child = await Child.start(IMAP_CHILD, str(op.ports["imaps"]), str(op.ca_file))
    children.append(child.proc.pid)
    for name in ("a", "b"):
        await child.request(op="open", name=name, user=user, password=PASSWORD)
        await child.request(op="run", name=name, commands=["SELECT INBOX"])
    n = repeat

    async def batch(label: str, commands: list[Any]) -> None:
        async with meter.measure(label, "command", len(commands), enabled):
            await child.request(op="run", name="a", commands=commands)

    async def each(label: str, setups: list[Any], command: str) -> None:
        for setup in setups:
            await child.request(op="run", name="b" if setup[0] == "b" else "a",
                                commands=[setup[1]])
            async with meter.measure(label, "command", 1, enabled):
                await child.request(op="run", name="a", commands=[command])

    append = ["APPEND INBOX", imap_message(9000, args.size).decode()]
    await batch("NOOP (nothing changed)", ["NOOP"] * n)
    await batch("EXPUNGE (nothing marked \\Deleted)", ["EXPUNGE"] * n)
    await batch("SELECT INBOX", ["SELECT INBOX"] * n)
    await batch(f"UID FETCH 1:* (FLAGS) ({args.mailbox} msgs)", ["UID FETCH 1:* (FLAGS)"] * n)
    await batch(f"UID FETCH 1:* (ENVELOPE) ({args.mailbox} msgs)",
                ["UID FETCH 1:* (ENVELOPE)"] * n)
    await batch("UID FETCH k (BODY.PEEK[])", [f"UID FETCH {k} (BODY.PEEK[])"
                                              for k in range(1, n + 1)])
    await batch("UID FETCH k (BODY[]) (unseen: sets \\Seen)",
                [f"UID FETCH {k} (BODY[])" for k in range(1, n + 1)])
    await batch("UID STORE k +FLAGS (\\Flagged)",
                [f"UID STORE {k} +FLAGS (\\Flagged)" for k in range(1, n + 1)])
    await batch('LIST "" "*"', ['LIST "" "*"'] * n)
    await batch("STATUS Sent (5 items)",
                ["STATUS Sent (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"] * n)
    await batch(f"APPEND INBOX ({args.size} B)", [append] * n)
    await each("NOOP after a flag change by another session",
               [("b", f"UID STORE {k} +FLAGS.SILENT (\\Answered)") for k in range(1, n + 1)],
               "NOOP")
    await each("NOOP after an APPEND by another session", [("b", append)] * n, "NOOP")
    await each("EXPUNGE (1 message marked \\Deleted)",
               [("a", f"UID STORE {k} +FLAGS.SILENT (\\Deleted)")
                for k in range(n + 1, 2 * n + 1)], "EXPUNGE")
    await child.close()


# ---------------------------------------------------------------- the run


async def seed(op: Any, address: str, folder: str, count: int, size: int) -> None:
    from imap_store.store.mailbox import NewMessage

    bal_id = op.bals[address].bal_id
    when = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    for start in range(0, count, 100):
        items = [NewMessage(imap_message(i, size), frozenset(), when)
                 for i in range(start + 1, min(count, start + 100) + 1)]
        await op.running.services.mailbox.append(bal_id, folder, items)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import server
    from tests.support import is_postgres, make_operator, serving, test_database_url

    meter = Meter()
    instrument_aiosqlite(meter)
    children: list[int] = []
    with tempfile.TemporaryDirectory(prefix="mss-count-") as tmp:
        op = await make_operator(Path(tmp))
        async with serving(op):
            assert op.running is not None
            instrument_engines(meter, op.running.services.db)
            instrument_writer(meter)
            instrument_loop(meter, asyncio.get_running_loop())
            sender, rcpt = await op.add_bal("alice"), await op.add_bal("carol")
            warm_rcpt = await op.add_bal("dave")
            user, warm_user = await op.add_bal("bob"), await op.add_bal("erin")
            for address in (user, warm_user):
                for folder in ("INBOX", "Sent"):
                    await seed(op, address, folder, args.mailbox, args.size)
            if args.fsync and is_postgres():
                assert op.pg_name is not None
                meter.pg = PgTracer(test_database_url(), op.pg_name, Path(tmp))
            # Warm-up: the same work on other BALs, not counted.
            await smtp_phases(meter, op, sender, warm_rcpt, args, connections=args.connections,
                              messages=2 * args.connections, enabled=False,
                              children=children)
            await imap_phases(meter, op, warm_user, args, repeat=3, enabled=False,
                              children=children)
            started = time.perf_counter()
            await smtp_phases(meter, op, sender, rcpt, args, connections=args.connections,
                              messages=args.messages, enabled=True, children=children)
            await imap_phases(meter, op, user, args, repeat=args.repeat, enabled=True,
                              children=children)
            elapsed = time.perf_counter() - started
            pg_stamps = await meter.pg.stop() if meter.pg is not None else None
    phases = []
    for phase in meter.phases.values():
        entry: dict[str, Any] = {
            "name": phase.name, "unit": phase.unit, "ops": phase.ops,
            "counts": dict(phase.counts), "background": dict(phase.background),
            "cpu_s": round(phase.cpu_s, 4), "wall_s": round(phase.wall_s, 4),
            "windows": phase.windows,
            "top_statements": phase.statements.most_common(8)}
        if pg_stamps is not None:
            entry["fsync_pg"] = dict(in_windows(pg_stamps, phase.windows))
        phases.append(entry)
    return {
        "tree": str(TREE), "server_module": server.__file__,
        "database": "postgresql" if is_postgres() else "sqlite",
        "messages": args.messages, "connections": args.connections, "size": args.size,
        "mailbox": args.mailbox, "repeat": args.repeat, "pid": os.getpid(),
        "children": children, "measured_seconds": round(elapsed, 2),
        "background_tasks": dict(meter.background_tasks),
        "pg_backends_traced": sorted(meter.pg.traced) if meter.pg is not None else None,
        "phases": phases}


def check_tree() -> None:
    """`server` and `tests` must come from the tree under test."""
    import server
    import tests

    for mod in (server, tests):
        if not Path(mod.__file__ or "").resolve().is_relative_to(TREE):
            raise SystemExit(f"{mod.__name__} comes from {mod.__file__}, not from {TREE}")


def tree_identity(tree: Path) -> dict[str, str]:
    """The tree's git commit (if any) and a digest of its Python files."""
    ident = {"tree": str(tree)}
    try:
        ident["git_head"] = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, check=True).stdout.strip()
        ident["git_dirty_files"] = str(len(subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True).stdout.splitlines()))
    except (OSError, subprocess.CalledProcessError):
        ident["git_head"] = "none"
    digest = hashlib.sha256()
    for package in ("server", "smtp_gateway", "imap_store", "message", "policy", "directory"):
        for path in sorted((tree / package).rglob("*.py")):
            digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    ident["py_digest"] = digest.hexdigest()[:16]
    return ident


def fsyncs_by_phase(trace: Path, result: dict[str, Any]) -> None:
    """Give each local fsync/fdatasync of the server process to the phase around it."""
    skip = {str(pid) for pid in result["children"]}
    stamps = []
    for line in trace.read_text().splitlines():
        if (ev := fsync_event(line)) is not None and ev[0] not in skip:
            stamps.append(ev[1:])
    for phase in result["phases"]:
        phase["fsync_local"] = dict(in_windows(stamps, phase["windows"]))


def per_op(phase: dict[str, Any]) -> dict[str, float | None]:
    ops = phase["ops"] or 1
    c = phase["counts"]
    fsync = None
    if "fsync_local" in phase:
        fsync = (sum(phase["fsync_local"].values())
                 + sum(phase.get("fsync_pg", {}).values())) / ops
    return {"sql": c.get("sql", 0) / ops, "rows": c.get("rows", 0) / ops,
            "transactions": c.get("begin", 0) / ops,
            "commits": c.get("commit", 0) / ops, "fsyncs": fsync,
            "hops": (c.get("hop_sqlite", 0) + c.get("hop_executor", 0)) / ops,
            "cpu_ms": 1000 * phase["cpu_s"] / ops, "wall_ms": 1000 * phase["wall_s"] / ops}


def _num(v: float | None) -> str:
    if v is None:
        return "n/a"
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}"


def print_summary(result: dict[str, Any]) -> None:
    print(f"# tree {result['identity']} database {result['database']}", file=sys.stderr)
    print("| phase | per | SQL | rows | transactions | commits | fsyncs | thread hops | "
          "CPU ms | wall ms |", file=sys.stderr)
    for phase in result["phases"]:
        p = per_op(phase)
        print(f"| {phase['name']} | {phase['unit']} | {_num(p['sql'])} | {_num(p['rows'])} | "
              f"{_num(p['transactions'])} | {_num(p['commits'])} | {_num(p['fsyncs'])} | "
              f"{_num(p['hops'])} | {p['cpu_ms']:.2f} | {p['wall_ms']:.2f} |", file=sys.stderr)


def compare(paths: list[str]) -> None:
    """Markdown tables, one per protocol: "before / after" per operation and database.

    The runs are grouped by database and tree; the first tree named is "before".
    Each cell is the mean over the runs of its group."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    trees = list(dict.fromkeys(r["identity"]["tree"] for r in runs))
    if len(trees) != 2:
        raise SystemExit(f"--compare needs runs of exactly two trees, got {trees}")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["database"], r["identity"]["tree"]), []).append(r)
    databases = list(dict.fromkeys(r["database"] for r in runs))

    def mean(database: str, tree: str, name: str, key: str) -> float | None:
        values = [per_op(next(p for p in r["phases"] if p["name"] == name))[key]
                  for r in groups[(database, tree)]]
        if any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None) / len(values)

    keys = ("sql", "rows", "transactions", "commits", "fsyncs", "hops", "cpu_ms")
    for protocol in ("SMTP", "IMAP"):
        print(f"\n{protocol}, per {'operation' if protocol == 'SMTP' else 'command'}: "
              "before / after\n")
        print("| operation | database | SQL statements | rows returned | transactions | "
              "commits | fsyncs | thread hops | CPU ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        names = [p["name"] for p in runs[0]["phases"]
                 if p["name"].startswith("SMTP") == (protocol == "SMTP")]
        for name in names:
            for database in databases:
                cells = []
                for k in keys:
                    b, a = (mean(database, tree, name, k) for tree in trees)
                    if k == "cpu_ms":
                        cells.append(f"{b:.1f} / {a:.1f}")
                    else:
                        cells.append(f"{_num(b)} / {_num(a)}")
                label = "SQLite" if database == "sqlite" else "PostgreSQL"
                print(f"| {name} | {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--mailbox", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--fsync", choices=("strace", "none"),
                        default="strace" if shutil.which("strace") else "none")
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument("--compare", nargs="+", metavar="RESULT.json")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
        return
    if args.repeat * 2 > args.mailbox:
        raise SystemExit("--mailbox must hold at least 2 x --repeat messages")
    check_tree()
    if args.inner:  # the process traced by strace: measure, write the result, exit
        args.fsync = True
        Path(args.inner).write_text(json.dumps(asyncio.run(run(args))))
        return
    identity = tree_identity(TREE)
    print(f"measuring tree {TREE} (git {identity['git_head']}, "
          f"py digest {identity['py_digest']})", file=sys.stderr)
    if args.fsync == "none":
        args.fsync = False
        result = asyncio.run(run(args))
    else:
        with tempfile.TemporaryDirectory(prefix="mss-count-strace-") as tmp:
            trace, out = Path(tmp) / "server.trace", Path(tmp) / "result.json"
            subprocess.run(
                ["strace", "-f", "--seccomp-bpf", "-qq", "-ttt", "-y", "-e",
                 "trace=fsync,fdatasync", "-e", "signal=none", "-o", str(trace),
                 sys.executable, __file__, *sys.argv[1:], "--inner", str(out)], check=True)
            result = json.loads(out.read_text())
            fsyncs_by_phase(trace, result)
    result["identity"] = identity
    for phase in result["phases"]:
        del phase["windows"]
    print_summary(result)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
