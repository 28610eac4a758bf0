"""SIGKILL crash test: every acknowledged message stored exactly once, nothing half-stored.

Initialises an operator in a temporary folder (`mss init`; SQLite, or a fresh
database on the PostgreSQL server of `MSS_TEST_DATABASE_URL`) with fixed
loopback ports, creates one sender and `--recipients` recipient BALs, and runs
`python -m server.cli serve` as a real process. `--clients` threads submit
messages over submission (STARTTLS, AUTH PLAIN, reused connections): each
message has a unique Message-ID (`<crash-CLIENT-SEQ@bench.test>`, never sent
twice) and goes to one recipient, every fifth to two. A client records the
Message-IDs that got `250` after DATA; a message whose session broke before
the reply is "unknown" (it may or may not have been stored); a client whose
connection fails reconnects until the server is back.

Meanwhile the killer spreads `--kills` kills over the run: the k-th comes
once a random number of messages between (k - 1/2) and k times
`--messages / --kills` got `250`, plus a random 0 to 300 ms, so it falls
wherever the server is (mid-DATA, mid-transaction, mid-commit, between the
commit and the reply, at start-up...). It sends SIGKILL to the server's
process group (the supervisor and its `server.workers` workers: no clean
stop anywhere), waits until none is left, and starts the server again on
the same ports.
Sending goes on until at least `--messages` messages got `250` and every
kill happened; then the last server is stopped with SIGTERM.

The check reads the store directly (the store's own keys and crypto, the
server stopped):

- every mailbox entry's content and meta decrypt (AAD: BAL, content id, key
  version) and the content belongs to the entry's BAL;
- each acknowledged Message-ID is present exactly once in each of its
  recipients' INBOX, an unknown one at most once, and nothing else is there;
- no content row without a mailbox entry or queue row, no entry without
  its content, no UID at or above its folder's UIDNEXT, no MODSEQ above its
  folder's HIGHESTMODSEQ, UIDs unique per folder; on SQLite, `PRAGMA
  integrity_check` says ok.

Prints one JSON object; exits 1 if any check failed.

    .venv/bin/python bench/crash_kill.py [--messages 5000] [--kills 20] [--clients 6]
    MSS_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
      .venv/bin/python bench/crash_kill.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))

from sqlalchemy import text  # noqa: E402

from imap_store.store.message_ops import META_SUFFIX  # noqa: E402
from message.meta_codec import decode_meta  # noqa: E402
from server import config as config_mod  # noqa: E402
from server.initdir import InitOptions, init_directory  # noqa: E402
from server.storage import admin_store  # noqa: E402
from tests.support import (  # noqa: E402
    DOMAIN,
    PASSWORD,
    create_pg_database,
    drop_pg_database,
    is_postgres,
)

SENDER = f"sender@{DOMAIN}"
LISTENERS = ("smtp", "submission", "submissions", "imap", "imaps", "http")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fixed_ports(cfg_path: Path) -> dict[str, int]:
    """Give every listener a fixed free port, so clients reconnect to the same one."""
    ports = {name: free_port() for name in LISTENERS}
    out, current = [], None
    for line in cfg_path.read_text().splitlines():
        m = re.match(r"^\[listeners\.(\w+)\]", line)
        if m:
            current = m.group(1)
        elif line.startswith("[") and not line.startswith("[listeners."):
            current = None
        if current and re.match(r"^port = \d+$", line):
            line = f"port = {ports[current]}"
        out.append(line)
    cfg_path.write_text("\n".join(out) + "\n")
    return ports


def message(mid: str, to: list[str]) -> bytes:
    return (f"From: {SENDER}\r\nTo: {', '.join(to)}\r\nSubject: crash {mid}\r\n"
            f"Message-ID: <{mid}@bench.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Message {mid}.\r\n" + "Ligne de texte du compte rendu.\r\n" * 30).encode()


class Ledger:
    """What the clients sent, by Message-ID: its recipients and whether it got 250."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, list[str]] = {}
        self.unknown: dict[str, list[str]] = {}
        self.refused: dict[str, str] = {}

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


class Client(threading.Thread):
    def __init__(self, n: int, port: int, ctx: ssl.SSLContext, rcpts: list[str],
                 ledger: Ledger, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.n, self.port, self.ctx, self.rcpts = n, port, ctx, rcpts
        self.ledger, self.stop, self.seq = ledger, stop, 0
        self.rng = random.Random(n)
        self.reconnects = 0

    def connect(self) -> smtplib.SMTP:
        while not self.stop.is_set():
            try:
                c = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
                c.ehlo("crash.test")
                c.starttls(context=self.ctx)
                c.ehlo("crash.test")
                c.login(SENDER, PASSWORD)
                return c
            except (OSError, smtplib.SMTPException):
                time.sleep(0.1)
        raise SystemExit

    def run(self) -> None:
        try:
            c = self.connect()
            while not self.stop.is_set():
                self.seq += 1
                mid = f"crash-{self.n}-{self.seq}"
                to = self.rng.sample(self.rcpts, 2 if self.seq % 5 == 0 else 1)
                try:
                    refused = c.sendmail(SENDER, to, message(mid, to))
                except smtplib.SMTPResponseException as exc:
                    with self.ledger.lock:
                        self.ledger.refused[mid] = f"{exc.smtp_code} {exc.smtp_error!r}"
                    self.reset(c)
                    c = self.connect() if not self.alive(c) else c
                    continue
                except (OSError, smtplib.SMTPException):
                    with self.ledger.lock:
                        self.ledger.unknown[mid] = to
                    self.reconnects += 1
                    c = self.connect()
                    continue
                with self.ledger.lock:
                    if refused:
                        self.ledger.refused[mid] = repr(refused)
                    else:
                        self.ledger.acked[mid] = to
        except SystemExit:
            return

    @staticmethod
    def reset(c: smtplib.SMTP) -> None:
        try:
            c.rset()
        except (OSError, smtplib.SMTPException):
            pass

    @staticmethod
    def alive(c: smtplib.SMTP) -> bool:
        try:
            return c.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False


class Server:
    def __init__(self, directory: Path) -> None:
        self.env = {**os.environ, "MSS_CONFIG": str(directory / "mss.toml"),
                    "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
        self.logs = directory / "logs"
        self.logs.mkdir()
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        self.starts += 1
        t = time.perf_counter()
        err = (self.logs / f"serve-{self.starts}.err").open("wb")
        # its own process group: the kill reaches the supervisor and its workers at once
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"],
                                     env=self.env, stdout=subprocess.PIPE, stderr=err,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(b"mss: serving"):
            self.proc.kill()
            raise SystemExit(f"server did not start (run {self.starts}): "
                             + (self.logs / f"serve-{self.starts}.err").read_text()[-3000:])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return time.perf_counter() - t

    def kill(self) -> None:
        """SIGKILL to every process of the server (with `server.workers`, the supervisor
        and each worker: a SIGKILL of the supervisor alone would let the workers stop
        cleanly on their parent-death SIGTERM), then wait until none is left."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        while True:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


async def prepare(directory: Path, recipients: int, url: str | None) -> dict[str, int]:
    await asyncio.to_thread(init_directory, InitOptions(directory, DOMAIN, hostname="localhost",
                                                        database_url=url))
    ports = fixed_ports(directory / "mss.toml")
    cfg = config_mod.load(directory / "mss.toml")
    async with admin_store(cfg) as st:
        for address in [SENDER] + [f"r{i}@{DOMAIN}" for i in range(recipients)]:
            await st.accounts.create_bal(address, "PER", password=PASSWORD, rpps="10000000001")
    return ports


async def check(directory: Path, ledger: Ledger) -> dict[str, object]:
    """Read the store back (server stopped) and compare it with the ledger."""
    cfg = config_mod.load(directory / "mss.toml")
    problems: list[str] = []
    seen: Counter[tuple[str, str]] = Counter()  # (address, message id)
    entries = 0
    async with admin_store(cfg) as st:
        async with st.db.read() as s:
            rows = (await s.execute(text(
                "SELECT b.address, b.id, f.name, e.uid, e.modseq, f.uidnext, f.highestmodseq, "
                "c.id, c.bal_id, c.key_version, c.body, c.meta "
                "FROM mailbox_entry e JOIN folder f ON f.id = e.folder_id "
                "JOIN bal b ON b.id = f.bal_id "
                "LEFT JOIN message_content c ON c.id = e.content_id"))).all()
            for (address, bal_id, folder, uid, modseq, uidnext, highest, cid, c_bal, version,
                 body, meta) in rows:
                entries += 1
                where = f"{address} {folder} uid {uid}"
                if cid is None:
                    problems.append(f"{where}: entry without content")
                    continue
                if c_bal != bal_id:
                    problems.append(f"{where}: content of another BAL")
                if uid >= uidnext or modseq > highest:
                    problems.append(f"{where}: uid/modseq above the folder's "
                                    f"({uidnext}, {highest})")
                try:
                    key = await st.keys.get(s, bal_id, version)
                    raw = key.open(cid, bytes(body))
                    if meta is None:
                        problems.append(f"{where}: no meta")
                    else:
                        decode_meta(key.open(cid + META_SUFFIX, bytes(meta)))
                except Exception as exc:  # noqa: BLE001 - any failure is a finding
                    problems.append(f"{where}: does not decrypt: {type(exc).__name__}")
                    continue
                mid = BytesHeaderParser().parsebytes(raw)["Message-ID"] or ""
                seen[(address, mid.strip("<>").removesuffix("@bench.test"))] += 1
            dup = (await s.execute(text(
                "SELECT folder_id, uid, count(*) FROM mailbox_entry "
                "GROUP BY folder_id, uid HAVING count(*) > 1"))).all()
            problems += [f"folder {r[0]} uid {r[1]}: {r[2]} entries" for r in dup]
            orphans = (await s.execute(text(
                "SELECT count(*) FROM message_content c WHERE NOT EXISTS "
                "(SELECT 1 FROM mailbox_entry e WHERE e.content_id = c.id) AND NOT EXISTS "
                "(SELECT 1 FROM outbound_queue o WHERE o.content_id = c.id)"))).scalar_one()
            if orphans:
                problems.append(f"{orphans} content rows without entry or queue row")
            contents = (await s.execute(text("SELECT count(*) FROM message_content"))).scalar_one()
            queued = (await s.execute(text("SELECT count(*) FROM outbound_queue"))).scalar_one()
            integrity = None
            if not is_postgres():
                integrity = (await s.execute(text("PRAGMA integrity_check"))).scalar_one()
                if integrity != "ok":
                    problems.append(f"integrity_check: {integrity}")
    expected: Counter[tuple[str, str]] = Counter()
    for mid, to in ledger.acked.items():
        for rcpt in to:
            expected[(rcpt, mid)] += 1
            if seen[(rcpt, mid)] != 1:
                problems.append(f"acknowledged {mid} found {seen[(rcpt, mid)]} times at {rcpt}")
    unknown_stored = 0
    for mid, to in ledger.unknown.items():
        for rcpt in to:
            n = seen[(rcpt, mid)]
            unknown_stored += n == 1
            if n > 1:
                problems.append(f"unacknowledged {mid} found {n} times at {rcpt}")
    allowed = {(r, m) for m, to in {**ledger.acked, **ledger.unknown}.items() for r in to}
    strays = [k for k in seen if k not in allowed]
    problems += [f"{m} at {r} was never sent there (or was refused)" for r, m in strays[:20]]
    return {"entries": entries, "contents": contents, "queued": queued,
            "acked_copies": sum(expected.values()), "unknown_copies_stored": unknown_stored,
            "sqlite_integrity": integrity, "problems": problems[:50],
            "problem_count": len(problems)}


async def run(args: argparse.Namespace) -> dict[str, object]:
    url, pg_name = (await create_pg_database()) if is_postgres() else (None, None)
    try:
        with tempfile.TemporaryDirectory(prefix="mss-crash-") as tmp:
            directory = Path(tmp) / "op"
            rcpts = [f"r{i}@{DOMAIN}" for i in range(args.recipients)]
            ports = await prepare(directory, args.recipients, url)
            server = Server(directory)
            result = await asyncio.to_thread(drive, args, server, ports, directory, rcpts)
            result.update(await check(directory, result.pop("ledger")))  # type: ignore[arg-type]
            if args.keep_logs:
                result["server_logs"] = [p.read_text()[-2000:]
                                         for p in sorted(server.logs.iterdir())]
            return result
    finally:
        if pg_name:
            await drop_pg_database(pg_name)


def drive(args: argparse.Namespace, server: Server, ports: dict[str, int], directory: Path,
          rcpts: list[str]) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=str(directory / "certs" / "ca.pem"))
    ledger, stop = Ledger(), threading.Event()
    rng = random.Random(args.seed)
    start_times = [server.start()]
    clients = [Client(n, ports["submission"], ctx, rcpts, ledger, stop)
               for n in range(args.clients)]
    t0 = time.perf_counter()
    for c in clients:
        c.start()
    kills: list[dict[str, float]] = []
    # spread the kills over the run: aim at one kill per (messages / kills) acknowledgements
    step = args.messages / args.kills
    while len(kills) < args.kills:
        target = step * (len(kills) + 1) - rng.uniform(0, step / 2)
        while ledger.count() < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        before = ledger.count()
        server.kill()
        kills.append({"at_acked": before, "t": round(time.perf_counter() - t0, 2)})
        start_times.append(server.start())
    while ledger.count() < args.messages:
        time.sleep(0.05)
    stop.set()
    for c in clients:
        c.join(timeout=60)
    elapsed = time.perf_counter() - t0
    code = server.terminate()
    errors = [p.name for p in sorted(server.logs.iterdir())
              if "Traceback" in p.read_text() and p.name != f"serve-{server.starts}.err"]
    return {
        "database": "postgresql" if is_postgres() else "sqlite",
        "kills": len(kills), "kill_points_acked": [k["at_acked"] for k in kills],
        "acked": len(ledger.acked), "unknown": len(ledger.unknown),
        "refused": len(ledger.refused), "refused_sample": list(ledger.refused.values())[:5],
        "reconnects": sum(c.reconnects for c in clients),
        "seconds": round(elapsed, 1), "acked_per_s": round(len(ledger.acked) / elapsed, 1),
        "median_start_s": round(sorted(start_times)[len(start_times) // 2], 2),
        "last_exit_code": code, "runs_with_traceback": errors,
        "loadavg": [round(x, 2) for x in os.getloadavg()], "ledger": ledger,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--recipients", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=1))
    sys.exit(1 if result["problem_count"] or result["kills"] < args.kills else 0)


if __name__ == "__main__":
    main()
