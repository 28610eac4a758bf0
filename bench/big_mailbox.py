"""Big-mailbox benchmark: SELECT, FETCH of the 50 newest envelopes and NOOP on a
100,000-message INBOX, over a real IMAPS connection.

Builds an operator the way the tests do (`tests.support`: `mss init`, ports 0,
SQLite, or a fresh database on the PostgreSQL server of `MSS_TEST_DATABASE_URL`),
creates one BAL and fills its INBOX with `--messages` small messages through the
store's own insert path (`MailboxStore.append`: meta computed, every message
sealed with the BAL's key, `insert_sealed`), `--batch` messages per write
transaction. The filled operator directory (and, on PostgreSQL, its database)
is kept under `--cache` and reused by the next run with the same database kind
and size (`--rebuild` starts again).

Then the operator is started in this process and a child process (so the
client's CPU work stays out of the server's process) opens an IMAPS connection,
logs in and times, `--reps` times each, one round trip per command:
`SELECT INBOX`, `FETCH n-49:n (ENVELOPE)` (n = EXISTS), `UID FETCH` of the 50
highest UIDs `(ENVELOPE)`, `NOOP`, `STATUS INBOX` (MESSAGES RECENT UIDNEXT UNSEEN
DELETED), `EXPUNGE` with nothing flagged `\\Deleted`, then a write cycle: a second
connection APPENDs a message, the first one's `NOOP` reports it (EXISTS, RECENT),
flags it `\\Deleted` (not timed) and `EXPUNGE`s it, so the mailbox keeps its size.
Each answer is checked (tagged OK, 50 envelopes, EXISTS = the mailbox size, one
EXPUNGE for the one flagged). Prints one JSON object: medians, min,
max in ms, the first SELECT apart (the first after the server started: nothing
of the folder is cached in the process yet), and the load average before and
after.

    .venv/bin/python bench/big_mailbox.py [--messages 100000] [--reps 15] [--rebuild]
    MSS_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
      .venv/bin/python bench/big_mailbox.py

`--profile FILE` also runs cProfile in the server's process while the timed
commands run and writes its statistics (pstats) to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from server import config as config_mod  # noqa: E402
from server.migrate import upgrade_to_head_async  # noqa: E402
from tests.support import (  # noqa: E402
    PASSWORD,
    Operator,
    is_postgres,
    make_operator,
)

CLIENT = r"""
import json, re, socket, ssl, sys, time
port, cafile, user, password, reps = sys.argv[1:6]
reps = int(reps)
ctx = ssl.create_default_context(cafile=cafile)
ARRIVAL = (b"From: <exp@op-b.mssante.fr>\r\nTo: <" + user.encode() + b">\r\n"
           b"Subject: arrival\r\n\r\nBonjour.\r\n")

class Conn:
    def __init__(self):
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))),
                                    server_hostname="localhost")
        self.buf = self.sock.makefile("rb")
        self.buf.readline()
        self.n = 0

    def command(self, text, literal=None):
        self.n += 1
        tag = b"c%d" % self.n
        if literal is None:
            self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            if not self.buf.readline().startswith(b"+"):
                raise SystemExit("no continuation for " + text)
            self.sock.sendall(literal + b"\r\n")
        lines = []
        while True:
            line = self.buf.readline()
            if not line:
                raise SystemExit("connection closed")
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:  # a literal: read it and the rest of the line
                line += self.buf.read(int(m.group(1))) + self.buf.readline()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise SystemExit(line.decode(errors="replace"))
                return lines, line
            lines.append(line)

a, b = Conn(), Conn()
for conn in (a, b):
    conn.command('LOGIN "%s" "%s"' % (user, password))
times = {"select": [], "fetch_envelopes": [], "uid_fetch_envelopes": [], "noop": [],
         "status": [], "expunge_nothing": [], "noop_after_arrival": [], "expunge_one": []}
exists = 0
def timed(name, text, conn=a):
    t = time.perf_counter()
    lines, tagged = conn.command(text)
    times[name].append(time.perf_counter() - t)
    return lines, tagged
for _ in range(reps):
    lines, _ = timed("select", "SELECT INBOX")
    exists = max(int(l.split()[1]) for l in lines if l.endswith(b" EXISTS\r\n"))
    lines, _ = timed("fetch_envelopes", "FETCH %d:%d (ENVELOPE)" % (exists - 49, exists))
    assert sum(1 for l in lines if b" FETCH (" in l and b"ENVELOPE" in l) == 50, lines[:3]
    lines, _ = a.command("FETCH %d (UID)" % exists)  # the highest UID (not timed)
    top = int(re.search(rb"UID (\d+)", lines[0]).group(1))
    lines, _ = timed("uid_fetch_envelopes", "UID FETCH %d:* (ENVELOPE)" % (top - 49))
    assert sum(1 for l in lines if b" FETCH (" in l) == 50, lines[:3]
    for _ in range(3):
        timed("noop", "NOOP")
    lines, _ = timed("status", "STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN DELETED)")
    assert b"MESSAGES %d " % exists in lines[0], lines[:1]
    timed("expunge_nothing", "EXPUNGE")
    # Another session appends; this one's NOOP reports it (EXISTS, RECENT), then
    # flags and expunges it, so the mailbox keeps its size.
    _, tagged = b.command("APPEND INBOX", ARRIVAL)
    new_uid = int(re.search(rb"APPENDUID \d+ (\d+)", tagged).group(1))
    lines, _ = timed("noop_after_arrival", "NOOP")
    assert any(l.endswith(b" EXISTS\r\n") for l in lines), lines[:3]
    a.command("UID STORE %d +FLAGS.SILENT (\\Deleted)" % new_uid)
    lines, _ = timed("expunge_one", "EXPUNGE")
    assert sum(1 for l in lines if l.endswith(b" EXPUNGE\r\n")) == 1, lines[:3]
for conn in (a, b):
    conn.command("LOGOUT")
print(json.dumps({"exists": exists, "times": times}))
"""


def small_message(i: int, rcpt: str) -> bytes:
    sent = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    return (
        f"From: Dr Expediteur {i % 97} <exp{i % 97}@op-b.mssante.fr>\r\n"
        f"To: {rcpt}\r\n"
        f"Subject: Compte rendu {i}\r\n"
        f"Date: {sent.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <big-{i}@bench.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Bonjour,\r\nvoici le compte rendu numero {i}.\r\nCordialement.\r\n"
    ).encode()


async def populate(op: Operator, address: str, count: int, batch: int) -> float:
    from imap_store.store.mailbox import NewMessage

    assert op.running is not None
    store = op.running.services.mailbox
    bal_id = op.bals[address].bal_id
    start = time.perf_counter()
    for first in range(0, count, batch):
        msgs = [NewMessage(small_message(i, address),
                           frozenset({"\\Seen"}) if i % 3 else frozenset())
                for i in range(first, min(count, first + batch))]
        await store.append(bal_id, "INBOX", msgs)
        if (first // batch) % 10 == 0:
            print(f"  {first + len(msgs)} messages, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    return time.perf_counter() - start


async def cached_operator(cache: Path, count: int, batch: int, rebuild: bool) -> Operator:
    kind = "postgresql" if is_postgres() else "sqlite"
    home = cache / f"{kind}-{count}"
    done = home / "ready.json"
    if done.exists() and not rebuild:
        cfg = config_mod.load(home / "op" / "mss.toml")
        # A cache built by an older tree gets this tree's schema, as `mss serve` would.
        await upgrade_to_head_async(cfg.database.url, cfg.base_dir)
        info = json.loads(done.read_text())
        op = Operator(home / "op", cfg, None)
        from imap_store.store.interfaces import Principal
        op.bals[info["address"]] = Principal(info["bal_id"], info["address"], "PER")
        return op
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    op = await make_operator(home)
    await op.start()
    try:
        address = await op.add_bal("big")
        print(f"populating {count} messages ({kind})", file=sys.stderr, flush=True)
        took = await populate(op, address, count, batch)
    finally:
        await op.stop()
    done.write_text(json.dumps({"address": address, "bal_id": op.bals[address].bal_id,
                                "populate_s": round(took, 1), "pg_name": op.pg_name}))
    return op


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"median_ms": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2),
            "max_ms": round(max(ms), 2), "n": len(ms)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mss-bench-big-mailbox"))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()

    op = await cached_operator(args.cache, args.messages, args.batch, args.rebuild)
    address = next(iter(op.bals))
    load_before = loadavg()
    await op.start()
    profiler = cProfile.Profile() if args.profile else None
    try:
        if profiler:
            profiler.enable()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, str(op.ports["imaps"]), str(op.ca_file), address,
            PASSWORD, str(args.reps), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await child.communicate()
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        if child.returncode != 0:
            raise SystemExit(f"client failed: {err.decode()}")
    finally:
        await op.stop()
    result = json.loads(out)
    if result["exists"] != args.messages:
        raise SystemExit(f"INBOX has {result['exists']} messages, expected {args.messages}")
    print(json.dumps({
        "database": "postgresql" if is_postgres() else "sqlite",
        "messages": result["exists"],
        "first_select_ms": round(result["times"]["select"][0] * 1000, 2),
        **{name: summary(samples) for name, samples in result["times"].items()},
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
