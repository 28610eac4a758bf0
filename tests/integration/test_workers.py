"""`mss serve` with `[server] workers = 2`, as a real process tree, on SQLite or PostgreSQL.

Each login's audit row names the worker that checked it (`detail.worker`), which is how
these tests know where a connection landed. They check: connections land on both
workers; an IDLE in either worker sees a delivery made through either within 1 s;
deliveries through both workers at once all commit (no `database is locked`); a
suspension by `mss bal suspend` is in force in both workers 1 s after the verb returns
and has ended the sessions open in both;
a killed worker is replaced and SIGTERM stops every worker cleanly; each worker runs
on a CPU of its own (`server.pin_workers`), or where the kernel puts it when that is off.

Ref: server/supervisor.py, server/workers.py, server/cpu_affinity.py; RFC 2177 (IDLE);
R28 (suspension).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import imaplib
import json
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from server import config as config_mod
from server.storage import admin_store, open_store
from tests.support import DOMAIN, drop_pg_database, is_postgres, make_operator

MSS = [sys.executable, "-m", "server.cli"]
PASSWORD = "a long enough password"
# The OWASP minimum argon2id cost: each worker checks one login from an address at a time.
FAST_AUTH = ("[auth]\ndelay_base_ms = 5\ndelay_cap_ms = 50\nargon2_memory_kib = 19456\n"
             "argon2_time_cost = 2\nargon2_parallelism = 1\n")
# Each worker admits cap // 2 connections before login from one address, and a burst of
# connections from the test's one address may land on one worker: room for 16 SMTP and
# 32 IMAP connections at once in each.
CAPS = "[limits]\nsmtp_max_preauth_per_address = 32\nimap_max_preauth_per_address = 64\n"
ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
TRIES = 40  # connections tried until one lands on the worker wanted


@dataclass
class Served:
    proc: subprocess.Popen[str]
    ports: dict[str, int]
    ctx: ssl.SSLContext
    cfg: config_mod.Config
    env: dict[str, str]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text()


async def _prepare(tmp_path: Path, workers: int = 2) -> tuple[config_mod.Config, str | None]:
    op = await make_operator(tmp_path, extra_toml=FAST_AUTH + CAPS)
    path = op.directory / "mss.toml"
    path.write_text(path.read_text().replace("[server]\n", f"[server]\nworkers = {workers}\n",
                                             1))
    cfg = config_mod.load(path)
    async with admin_store(cfg) as store:
        for address in (ALICE, BOB):
            await store.accounts.create_bal(address, "PER", password=PASSWORD,
                                            rpps="10000000001")
    return cfg, op.pg_name


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    cfg, pg_name = asyncio.run(_prepare(tmp_path))
    assert cfg.server.workers == 2
    env = {**os.environ, "MSS_CONFIG": str(cfg.path)}
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([*MSS, "serve"], env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"mss: serving (\{.*\})", line)
        assert match, line + log.read_text()
        ports = json.loads(match.group(1).replace("'", '"'))
        ctx = ssl.create_default_context(cafile=str(cfg.resolve("certs/ca.pem")))
        yield Served(proc, ports, ctx, cfg, env, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pg_name:
            asyncio.run(drop_pg_database(pg_name))


# --- which worker served a login ------------------------------------------------------


async def _auth_rows(cfg: config_mod.Config, after: int) -> list[tuple[int, str, dict]]:
    db, _keys = open_store(cfg)
    try:
        async with db.read() as s:
            rows = (await s.execute(text(
                "SELECT id, event, detail FROM audit WHERE event LIKE 'auth.%' AND id > :i "
                "ORDER BY id"), {"i": after})).all()
    finally:
        await db.dispose()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


class Logins:
    """Reads the login audit rows as they come, one login at a time."""

    def __init__(self, cfg: config_mod.Config) -> None:
        self.cfg, self.last = cfg, 0

    def next(self) -> tuple[str, int]:
        """The event and worker of the one login since the previous call."""
        rows = asyncio.run(_auth_rows(self.cfg, self.last))
        assert len(rows) == 1, rows
        self.last = rows[0][0]
        return rows[0][1], rows[0][2]["worker"]


def _imaps(srv: Served) -> imaplib.IMAP4_SSL:
    return imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ctx, timeout=10)


def _submission(srv: Served) -> smtplib.SMTP:
    c = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30)
    c.starttls(context=srv.ctx)
    c.login(ALICE, PASSWORD)
    return c


def _message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, BOB, f"worker test {n}"
    msg.set_content(f"message {n}\n")
    return msg


def _start_idle(imap: imaplib.IMAP4_SSL) -> None:
    assert imap.select("INBOX")[0] == "OK"
    imap.send(b"i1 IDLE\r\n")
    assert imap.readline().startswith(b"+")


def _wait_exists(imap: imaplib.IMAP4_SSL, count: int, seconds: float = 5.0) -> float:
    """Seconds until `* count EXISTS` arrives on an IDLE connection."""
    start = time.monotonic()
    imap.sock.settimeout(seconds)
    while True:
        line = imap.readline()
        assert line, "connection closed during IDLE"
        if line.strip() == f"* {count} EXISTS".encode():
            waited = time.monotonic() - start
            print(f"IDLE saw EXISTS {count} after {waited:.3f} s")
            return waited


# --- the tests --------------------------------------------------------------------------


def test_idle_in_each_worker_sees_deliveries_through_the_other_within_1s(served) -> None:
    srv, logins = served, Logins(served.cfg)
    idlers: dict[int, imaplib.IMAP4_SSL] = {}
    for _ in range(TRIES):
        imap = _imaps(srv)
        assert imap.login(BOB, PASSWORD)[0] == "OK"
        event, worker = logins.next()
        assert event == "auth.success"
        if worker in idlers:
            imap.logout()
            continue
        _start_idle(imap)
        idlers[worker] = imap
        if len(idlers) == 2:
            break
    assert set(idlers) == {0, 1}, "IMAP connections never landed on both workers"

    through: list[int] = []
    for _ in range(TRIES):
        c = _submission(srv)
        _event, worker = logins.next()
        if worker in through:
            c.quit()
            continue
        c.send_message(_message(len(through) + 1))  # 250: durable
        c.quit()
        through.append(worker)
        for idle_worker, imap in idlers.items():
            waited = _wait_exists(imap, len(through))
            assert waited < 1.0, (f"IDLE in worker {idle_worker} saw a delivery through "
                                  f"worker {worker} after {waited:.2f} s")
        if len(through) == 2:
            break
    assert sorted(through) == [0, 1], "SMTP connections never landed on both workers"
    for imap in idlers.values():
        imap.send(b"DONE\r\n")
        while not imap.readline().startswith(b"i1 OK"):
            pass
        imap.logout()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=30) == 0
    assert "Traceback" not in srv.stderr() and " ERROR " not in srv.stderr()


def test_concurrent_deliveries_through_both_workers_all_commit(served) -> None:
    srv, logins, per_worker, per_session = served, Logins(served.cfg), 4, 6
    sessions: dict[int, list[smtplib.SMTP]] = {0: [], 1: []}
    for _ in range(4 * TRIES):  # logged-in sessions, as many on each worker
        c = _submission(srv)
        worker = logins.next()[1]
        if len(sessions[worker]) < per_worker:
            sessions[worker].append(c)
        else:
            c.quit()
        if all(len(s) == per_worker for s in sessions.values()):
            break
    assert all(len(s) == per_worker for s in sessions.values()), "never both workers"
    opened = sessions[0] + sessions[1]

    def deliver(k: int) -> list[dict]:
        with opened[k] as c:
            return [c.send_message(_message(k * per_session + n)) for n in range(per_session)]

    with concurrent.futures.ThreadPoolExecutor(len(opened)) as pool:
        results = list(pool.map(deliver, range(len(opened))))
    assert results == [[{}] * per_session] * len(opened)  # every message 250
    imap = _imaps(srv)
    imap.login(BOB, PASSWORD)
    assert int(imap.select("INBOX")[1][0]) == len(opened) * per_session
    imap.logout()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=30) == 0
    log = srv.stderr()
    assert "database is locked" not in log and " ERROR " not in log and "Traceback" not in log


def _rcpt_bob(srv: Served) -> tuple[int, bytes]:
    """The RCPT code and enhanced code alice gets for bob."""
    with _submission(srv) as c:
        c.mail(ALICE)
        code, reply = c.rcpt(BOB)
    return code, reply[:5]  # type: ignore[return-value]


def test_suspension_in_force_in_both_workers_within_1s(served) -> None:
    srv, logins = served, Logins(served.cfg)
    before = _imaps(srv)  # logins work on both workers before the suspension
    assert before.login(BOB, PASSWORD)[0] == "OK"
    before.logout()
    logins.next()
    done = subprocess.run([*MSS, "bal", "suspend", BOB], env=srv.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    suspended_at = time.monotonic()
    time.sleep(max(0.0, suspended_at + 1.0 - time.monotonic()))

    refused_logins: set[int] = set()
    refused_rcpts: set[int] = set()
    for _ in range(TRIES):
        imap = _imaps(srv)
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(BOB, PASSWORD)
        imap.logout()
        event, worker = logins.next()
        assert event == "auth.failure"
        refused_logins.add(worker)
        code, enhanced = _rcpt_bob(srv)
        _event, worker = logins.next()  # alice's login
        assert (code, enhanced) == (550, b"5.2.1"), (worker, code, enhanced)
        refused_rcpts.add(worker)
        if refused_logins == refused_rcpts == {0, 1}:
            break
    assert refused_logins == {0, 1} and refused_rcpts == {0, 1}
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=30) == 0


def _ended(imap: imaplib.IMAP4_SSL) -> bool:
    """Whether the server ended this session (BYE or closed) or refuses its commands."""
    try:
        return imap.noop()[0] != "OK"
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
        return True


def _session_in_each_worker(srv: Served) -> dict[int, imaplib.IMAP4_SSL]:
    """One logged-in IMAPS session of BOB in each worker (connections tried until one
    has landed on each)."""
    logins = Logins(srv.cfg)
    sessions: dict[int, imaplib.IMAP4_SSL] = {}
    for _ in range(TRIES):
        imap = _imaps(srv)
        assert imap.login(BOB, PASSWORD)[0] == "OK"
        worker = logins.next()[1]
        if worker in sessions:
            imap.logout()
            continue
        sessions[worker] = imap
        if len(sessions) == 2:
            break
    assert set(sessions) == {0, 1}, "IMAP connections never landed on both workers"
    return sessions


def test_suspension_ends_open_sessions_in_both_workers_within_1s(served) -> None:
    srv = served
    sessions = _session_in_each_worker(srv)
    for imap in sessions.values():
        assert imap.select("INBOX")[0] == "OK"
    done = subprocess.run([*MSS, "bal", "suspend", BOB], env=srv.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)
    still_open = [worker for worker, imap in sessions.items() if not _ended(imap)]
    assert not still_open, f"sessions still served in worker(s) {still_open}"


class _Connected(imaplib.IMAP4):
    """IMAPS over a socket connected beforehand (imaplib opens its own otherwise)."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext) -> None:
        self._pre, self._ctx = sock, ctx
        super().__init__("127.0.0.1")

    def _create_socket(self, timeout: float | None) -> socket.socket:
        self._pre.setblocking(True)
        self._pre.settimeout(10)
        return self._ctx.wrap_socket(self._pre, server_hostname="localhost")


def test_a_burst_of_connections_is_spread_over_both_workers(served) -> None:
    """Each worker has its own socket on the port (SO_REUSEPORT): connections opened
    at once are spread by the kernel, not all taken by one worker's accept loop
    (with one shared socket, imaptest's 10 connections all landed on one worker)."""
    srv, logins = served, Logins(served.cfg)
    burst = []
    for _ in range(20):  # connected as one burst, as a load tool's clients are
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", srv.ports["imaps"]))
        burst.append(sock)
    workers = []
    for sock in burst:  # one login at a time, so each audit row is that session's
        imap = _Connected(sock, srv.ctx)
        assert imap.login(BOB, PASSWORD)[0] == "OK"
        workers.append(logins.next()[1])
        imap.logout()
    # binomial(20, 1/2): fewer than 3 on one worker has a probability of 0.04 %
    assert min(workers.count(0), workers.count(1)) >= 3, workers


def test_noop_in_one_worker_reports_an_expunge_made_through_the_other_at_once(
        served) -> None:
    """NOOP and CHECK read the folder's committed marker: a change another worker
    committed a moment before is reported by the very next NOOP, not after the folder
    watcher's next poll (imaptest's `close` and `expunge` scripts run two sessions
    that land on different workers and check this)."""
    sessions = _session_in_each_worker(served)
    writer, reader = sessions[0], sessions[1]
    for n in (1, 2):
        assert writer.append("INBOX", None, None, _message(n).as_bytes())[0] == "OK"
    for imap in (writer, reader):
        assert imap.select("INBOX") == ("OK", [b"2"])
    for command, uid in (("NOOP", b"1"), ("CHECK", b"2")):
        assert writer.uid("STORE", uid, "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert writer.expunge()[0] == "OK"
        typ, _ = reader._simple_command(command)  # noqa: SLF001 (imaplib has no CHECK reply)
        assert typ == "OK"
        assert reader.untagged_responses.pop("EXPUNGE", None) == [b"1"], command
    for imap in (writer, reader):
        imap.logout()


def _worker_pids(srv: Served) -> dict[int, int]:
    """The newest pid each worker index logged it serves with."""
    found = re.findall(r"worker (\d+) of 2 serving \(pid (\d+)\)", srv.stderr())
    return {int(index): int(pid) for index, pid in found}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_worker_is_replaced_and_sigterm_stops_all(served) -> None:
    srv, logins = served, Logins(served.cfg)
    first = _worker_pids(srv)
    assert sorted(first) == [0, 1] and srv.proc.pid not in first.values()
    os.kill(first[1], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _worker_pids(srv).get(1) == first[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    now = _worker_pids(srv)
    assert now[1] != first[1] and now[0] == first[0], now
    assert f"worker 1 (pid {first[1]}) exited (signal 9)" in srv.stderr()

    seen: set[int] = set()  # the replacement serves too
    for _ in range(TRIES):
        imap = _imaps(srv)
        assert imap.login(BOB, PASSWORD)[0] == "OK"
        imap.logout()
        seen.add(logins.next()[1])
        if seen == {0, 1}:
            break
    assert seen == {0, 1}

    idle_smtp = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10)
    idle_smtp.ehlo("client.test")
    idle_imap = _imaps(srv)
    srv.proc.send_signal(signal.SIGTERM)
    assert idle_smtp.getreply()[0] == 421
    assert idle_imap.readline().startswith(b"* BYE")
    assert srv.proc.wait(timeout=30) == 0
    assert not any(_alive(pid) for pid in now.values())
    log = srv.stderr()
    assert "Traceback" not in log and " ERROR " not in log
    assert log.count("mss.worker: stopping") == 2


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _run_serve(cfg: config_mod.Config, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as err:
        return subprocess.Popen([*MSS, "serve"], env={**os.environ, "MSS_CONFIG": str(cfg.path)},
                                stdout=subprocess.PIPE, stderr=err, text=True)


@contextmanager
def _serving_until_sigterm(cfg: config_mod.Config, pg_name: str | None,
                           log: Path) -> Iterator[subprocess.Popen[str]]:
    """`mss serve` started and serving; at the end stopped by SIGTERM, which must exit
    0; the test's PostgreSQL database dropped."""
    proc = _run_serve(cfg, log)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("mss: serving {")
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if pg_name:
            asyncio.run(drop_pg_database(pg_name))


def test_one_worker_is_one_process(tmp_path: Path) -> None:
    cfg, pg_name = asyncio.run(_prepare(tmp_path, workers=1))
    with _serving_until_sigterm(cfg, pg_name, tmp_path / "serve.log") as proc:
        assert _children(proc.pid) == []
    assert "[worker" not in (tmp_path / "serve.log").read_text()


def test_a_worker_failing_at_start_stops_the_start(tmp_path: Path) -> None:
    cfg, pg_name = asyncio.run(_prepare(tmp_path))
    cfg.resolve(cfg.tls.cert).unlink()  # read by each worker when it starts
    proc = _run_serve(cfg, tmp_path / "serve.log")
    try:
        out, _ = proc.communicate(timeout=60)
        log = (tmp_path / "serve.log").read_text()
        assert proc.returncode == 1, log
        assert out == ""  # never "mss: serving"
        assert "worker 0 failed" in log and "[worker 1]" not in log
    finally:
        if proc.poll() is None:
            proc.kill()
        if pg_name:
            asyncio.run(drop_pg_database(pg_name))


def test_a_port_in_use_is_refused_naming_the_listener(tmp_path: Path) -> None:
    cfg, pg_name = asyncio.run(_prepare(tmp_path))
    try:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            text_ = re.sub(r"(\[listeners\.imaps\][^\n]*\nhost = \S+\nport = )0",
                           rf"\g<1>{port}", cfg.path.read_text())
            assert f"port = {port}" in text_
            cfg.path.write_text(text_)
            done = subprocess.run([*MSS, "serve"], env={**os.environ, "MSS_CONFIG": str(cfg.path)},
                                  capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert done.stderr.startswith(f"mss: error: listeners.imaps: cannot listen on "
                                      f"127.0.0.1:{port}: ")
    finally:
        if pg_name:
            asyncio.run(drop_pg_database(pg_name))


# --- each worker on a CPU of its own (server.pin_workers) ------------------------------


def _cpus_of(pid: int) -> list[frozenset[int]]:
    """The CPUs each thread of process `pid` may run on, its main thread first."""
    tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    tids.remove(pid)
    return [frozenset(os.sched_getaffinity(t)) for t in [pid, *tids]]


def test_each_worker_runs_on_a_cpu_of_its_own(served) -> None:
    """With 2 workers and at least 2 CPUs, worker i runs on the i-th CPU the supervisor
    may use, and so do the threads it started (on SQLite the database writer's, once an
    APPEND has run), but for the offload threads (the argon2id check of the login),
    which may use every CPU; with fewer CPUs nothing is pinned."""
    srv, logins = served, Logins(served.cfg)
    allowed = frozenset(os.sched_getaffinity(srv.proc.pid))
    served_by: set[int] = set()
    for _ in range(TRIES):  # a login and an APPEND in each worker
        with _imaps(srv) as imap:
            assert imap.login(ALICE, PASSWORD)[0] == "OK"
            served_by.add(logins.next()[1])
            assert imap.append("INBOX", None, None, b"Subject: t\r\n\r\nbody\r\n")[0] == "OK"
        if served_by == {0, 1}:
            break
    assert served_by == {0, 1}
    workers = _children(srv.proc.pid)
    assert len(workers) == 2
    threads = [_cpus_of(pid) for pid in workers]
    if len(allowed) < 2:
        assert {cpus for each in threads for cpus in each} == {allowed}
        return
    cpus = sorted(allowed)
    for index, pid in enumerate(workers):
        own = frozenset({cpus[_index_of(srv, pid)]})
        assert threads[index][0] == own
        assert set(threads[index]) == {own, allowed}, threads[index]  # offload: every CPU
        # the loop, and on SQLite the writer's thread (PostgreSQL's writer is on the loop)
        assert threads[index].count(own) >= (1 if is_postgres() else 2)
    assert {_index_of(srv, pid) for pid in workers} == {0, 1}
    assert "pinned to CPU" in srv.stderr()


def _index_of(srv: Served, pid: int) -> int:
    """The worker index of process `pid`, from its start line in the log."""
    found = re.search(rf"\[worker (\d+)\] mss.worker: worker \d+ of \d+ serving \(pid {pid}\)",
                      srv.stderr())
    assert found, srv.stderr()
    return int(found.group(1))


def test_pin_workers_false_leaves_the_workers_on_every_cpu(tmp_path: Path) -> None:
    cfg, pg_name = asyncio.run(_prepare(tmp_path))
    unpinned = cfg.path.read_text().replace("[server]\n", "[server]\npin_workers = false\n", 1)
    cfg.path.write_text(unpinned)
    with _serving_until_sigterm(cfg, pg_name, tmp_path / "serve.log") as proc:
        allowed = frozenset(os.sched_getaffinity(proc.pid))
        workers = _children(proc.pid)
        assert len(workers) == 2
        for pid in workers:
            assert set(_cpus_of(pid)) == {allowed}
    assert "pinned to CPU" not in (tmp_path / "serve.log").read_text()
