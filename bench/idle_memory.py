"""Resident memory of `mss serve` with 1,000 idle IMAPS sessions, then during 200
simultaneous logins.

Initialises an operator in a temporary folder (`mss init`, ports 0; SQLite, or a
fresh database on the PostgreSQL server of `MSS_TEST_DATABASE_URL`), creates
`--bals` BALs (argon2id passwords, the configured parameters) and one app
password for each, then runs `python -m server.cli serve` as a real process.
The config gets room for the load and nothing else changed: `[limits]
imap_max_connections` above the total, `[auth] login_wait_ms = 60000` (200
logins queue for `max_verifications` slots: the default, the number of
cores). Each client connection binds its own loopback source address
(127.0.N.M), as many clients would: one address has one login under way at a
time (`LoginTurns`) and at most `imap_max_preauth_per_address` connections
before login.

Measures the server's resident memory (`VmRSS` of /proc/PID/status summed over
the `mss serve` process and its worker processes, sampled
every 20 ms by a thread of this process) in three phases:

1. baseline: the server started, one IMAPS login done and closed (TLS, the
   database pool and the login path warmed up);
2. idle: `--idle` IMAPS connections, each logged in (LOGIN with the BAL's app
   password: no argon2 work, so this phase measures what a session holds),
   `SELECT INBOX`, then left idle; RSS read once all are up and 2 s later;
3. logins: `--logins` more connections open at once and send LOGIN with the
   BAL's argon2id password at the same moment; the peak RSS while they are
   verified (and `VmHWM`, the kernel's own peak), and how many got OK.

The clients run in a child process (asyncio, raw TLS). Prints one JSON object.

    .venv/bin/python bench/idle_memory.py [--idle 1000] [--logins 200] [--bals 50]
    MSS_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
      .venv/bin/python bench/idle_memory.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))

from server import config as config_mod  # noqa: E402
from server.initdir import InitOptions, init_directory  # noqa: E402
from server.storage import admin_store  # noqa: E402
from tests.support import (  # noqa: E402
    DOMAIN,
    PASSWORD,
    create_pg_database,
    drop_pg_database,
    is_postgres,
    set_ports_to_zero,
)

T = TypeVar("T")

CLIENT = r"""
import asyncio, json, ssl, sys, time
port, cafile, accounts_file, idle, logins = sys.argv[1:6]
idle, logins = int(idle), int(logins)
accounts = json.load(open(accounts_file))
ctx = ssl.create_default_context(cafile=cafile)

def source(i):
    return (f"127.0.{1 + i // 250}.{1 + i % 250}", 0)

class Client:
    def __init__(self, i):
        self.i, self.n = i, 0
    async def open(self):
        self.r, self.w = await asyncio.open_connection(
            "127.0.0.1", int(port), ssl=ctx, server_hostname="localhost",
            local_addr=source(self.i))
        await self.r.readline()
    async def command(self, text):
        self.n += 1
        tag = b"t%d" % self.n
        self.w.write(tag + b" " + text.encode() + b"\r\n")
        while True:
            line = await self.r.readline()
            if not line:
                return b"closed"
            if line.startswith(tag + b" "):
                return line[len(tag) + 1:].split(b" ", 1)[0]

def say(what):
    print(json.dumps(what), flush=True)

async def main():
    held = []
    sem = asyncio.Semaphore(50)
    async def one_idle(i):
        a = accounts[i % len(accounts)]
        async with sem:
            c = Client(i)
            await c.open()
            ok = await c.command('LOGIN "%s" "%s"' % (a["address"], a["app"]))
            if ok == b"OK":
                ok = await c.command("SELECT INBOX")
            held.append(c)
            return ok == b"OK"
    t = time.perf_counter()
    idle_ok = sum(await asyncio.gather(*(one_idle(i) for i in range(idle))))
    say({"phase": "idle", "ok": idle_ok, "seconds": round(time.perf_counter() - t, 1)})
    sys.stdin.readline()  # the parent has measured the idle phase
    clients = [Client(idle + j) for j in range(logins)]
    await asyncio.gather(*(c.open() for c in clients))
    t = time.perf_counter()
    say({"phase": "logins_start"})
    async def login(j, c):
        a = accounts[j % len(accounts)]
        return await c.command('LOGIN "%s" "%s"' % (a["address"], a["password"]))
    codes = await asyncio.gather(*(login(j, c) for j, c in enumerate(clients)))
    say({"phase": "logins", "ok": sum(1 for x in codes if x == b"OK"),
         "codes": sorted({x.decode() for x in codes}),
         "seconds": round(time.perf_counter() - t, 1)})
    sys.stdin.readline()
    for c in held + clients:
        c.w.close()

asyncio.run(main())
"""


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (`mss serve`: the supervisor and its workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:  # a thread that ended between the listing and the read
                continue
    return found


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in MiB, summed over the server's processes (pages the workers
    share with the supervisor they were forked from count once per process: an
    upper bound)."""
    out = {"VmRSS": 0, "VmHWM": 0}
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in out:
                out[key] += int(value.split()[0])
    return {key: kib // 1024 for key, kib in out.items()}


class Sampler(threading.Thread):
    """Samples the server's VmRSS every 20 ms; `peak()` since the last `reset()`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.top, self.stopped = pid, 0, False

    def run(self) -> None:
        while not self.stopped:
            try:
                self.top = max(self.top, status(self.pid)["VmRSS"])
            except (OSError, KeyError):
                # a worker between the listing and its status: the next sample counts;
                # the supervisor gone: the measure is over
                if not Path(f"/proc/{self.pid}").exists():
                    return
            time.sleep(0.02)

    def reset(self) -> None:
        self.top = 0


async def prepare(directory: Path, bals: int, url: str | None) -> list[dict[str, str]]:
    await asyncio.to_thread(init_directory, InitOptions(directory, DOMAIN, hostname="localhost",
                                                        database_url=url))
    cfg_path = directory / "mss.toml"
    set_ports_to_zero(cfg_path)
    with cfg_path.open("a") as fh:
        fh.write("\n[limits]\nimap_max_connections = 5000\n\n[auth]\nlogin_wait_ms = 60000\n")
    cfg = config_mod.load(cfg_path)
    accounts = []
    async with admin_store(cfg) as st:
        for i in range(bals):
            address = f"idle{i}@{DOMAIN}"
            await st.accounts.create_bal(address, "PER", password=PASSWORD, rpps="10000000001")
            _, secret = await st.identities.add_app_password(address, None, "bench")
            accounts.append({"address": address, "password": PASSWORD, "app": secret})
    return accounts


def start_server(directory: Path,
                 tree: Path | None = None) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """`mss serve` for the operator in `directory`, of this checkout or of `tree` (another
    checkout, `imaptest_duel.py`); its ports."""
    env = {**os.environ, "MSS_CONFIG": str(directory / "mss.toml"),
           "PYTHONPATH": str(tree) if tree else os.environ.get("PYTHONPATH", str(ROOT))}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env, cwd=tree,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=raise_nofile)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.match(r"mss: serving (\{.*\})", line)
    if not match:
        proc.kill()
        raise SystemExit("server did not start: " + line + (proc.stderr.read() if proc.stderr
                                                             else ""))
    return proc, json.loads(match.group(1).replace("'", '"'))


@asynccontextmanager
async def served_operator(
    prepare: Callable[[Path, str | None], Awaitable[T]], *, prefix: str = "mss-bench-",
) -> AsyncIterator[tuple[T, subprocess.Popen[str], dict[str, int], Path]]:
    """A fresh operator served by `mss serve`: built by `prepare(directory, url)` in a
    temporary folder (SQLite, or a fresh database on the PostgreSQL server of
    `MSS_TEST_DATABASE_URL`: `url`); yields what `prepare` returned, the process, its
    ports and the temporary folder; then stops the server and drops the database."""
    url, pg_name = (await create_pg_database()) if is_postgres() else (None, None)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            prepared = await prepare(Path(tmp) / "op", url)
            proc, ports = start_server(Path(tmp) / "op")
            try:
                yield prepared, proc, ports, Path(tmp)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        finally:
            if pg_name:
                await drop_pg_database(pg_name)


def warm_up(port: int, cafile: Path, account: dict[str, str]) -> None:
    import imaplib
    import ssl
    ctx = ssl.create_default_context(cafile=str(cafile))
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=60)
    imap.login(account["address"], account["password"])
    imap.select("INBOX")
    imap.logout()


async def run(args: argparse.Namespace) -> dict[str, object]:
    raise_nofile()
    async with served_operator(lambda directory, url: prepare(directory, args.bals, url),
                               prefix="mss-idle-") as (accounts, proc, ports, tmp):
        (tmp / "accounts.json").write_text(json.dumps(accounts))
        return await measure(args, proc, ports, tmp / "op", tmp / "accounts.json", accounts)


async def measure(args: argparse.Namespace, proc: subprocess.Popen[str], ports: dict[str, int],
                  directory: Path, accounts_file: Path,
                  accounts: list[dict[str, str]]) -> dict[str, object]:
    cafile = directory / "certs" / "ca.pem"
    await asyncio.to_thread(warm_up, ports["imaps"], cafile, accounts[0])
    await asyncio.sleep(1.0)
    base = status(proc.pid)
    sampler = Sampler(proc.pid)
    sampler.start()
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, str(ports["imaps"]), str(cafile), str(accounts_file),
        str(args.idle), str(args.logins), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        preexec_fn=raise_nofile)
    assert client.stdout is not None and client.stdin is not None

    async def report() -> dict[str, object]:
        line = await client.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit("client failed")
        return dict(json.loads(line))

    idle = await report()
    await asyncio.sleep(0.5)
    idle_rss = status(proc.pid)["VmRSS"]
    await asyncio.sleep(2.0)
    idle_rss_later = status(proc.pid)["VmRSS"]
    idle_peak = sampler.top
    client.stdin.write(b"\n")
    await report()  # logins_start: the connections are open, the LOGINs leave now
    sampler.reset()
    logins = await report()
    login_peak, hwm = sampler.top, status(proc.pid)["VmHWM"]
    after = status(proc.pid)["VmRSS"]
    client.stdin.write(b"\n")
    await client.wait()
    sampler.stopped = True
    return {
        "database": "postgresql" if is_postgres() else "sqlite",
        "baseline_rss_mib": base["VmRSS"],
        "idle_connections_ok": idle["ok"], "idle_setup_s": idle["seconds"],
        "idle_rss_mib": idle_rss, "idle_rss_2s_later_mib": idle_rss_later,
        "idle_added_mib": idle_rss_later - base["VmRSS"], "idle_phase_peak_mib": idle_peak,
        "logins_ok": logins["ok"], "login_codes": logins["codes"],
        "logins_s": logins["seconds"], "logins_peak_rss_mib": login_peak,
        "vmhwm_mib": hwm, "rss_after_logins_mib": after,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--logins", type=int, default=200)
    ap.add_argument("--bals", type=int, default=50)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=1))


if __name__ == "__main__":
    main()
