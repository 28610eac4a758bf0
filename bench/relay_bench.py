"""Relay between two operators: throughput (messages/s) and end-to-end latency.

Two operators (`op-a`, `op-b`), each its own `mss serve` process with its own
directory and SQLite database, certificates from one test CA, set up with the
`mss` verbs as the README's "two operators on one machine" says.

Throughput: with B stopped, `--messages` messages of `--size` octets are queued on
A (submission, STARTTLS + AUTH); they are tried once and wait. B is started, the
queue is made due (`mss queue retry`) and the clock runs until A's queue is empty:
messages / seconds, sent over `relay.connections` (`--connections`) connections.

Latency: with both running, `--latency` messages are sent one at a time; for each,
the time from A's `250` to the message counted by `STATUS INBOX (MESSAGES)` on B's
IMAP (a client polling every 2 ms). Prints JSON: median and p99 in ms.

    .venv/bin/python bench/relay_bench.py [--messages 1000] [--connections 10]
                                          [--size 10240] [--latency 200]
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import re
import smtplib
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from tests.exchange_support import (  # noqa: E402
    DOMAIN_A,
    DOMAIN_B,
    Pki,
    free_port,
    standard_trust_list,  # noqa: E402
)
from tests.integration.test_exchange_processes import PASSWORD, Proc, _init  # noqa: E402

ALICE, BOB = f"alice@{DOMAIN_A}", f"bob@{DOMAIN_B}"


def message(i: int, size: int) -> bytes:
    head = (f"From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: relay {i}\r\n"
            f"Message-ID: <r{i}@bench.test>\r\n\r\n").encode()
    return head + (b"y" * 78 + b"\r\n") * max(1, size // 80)


def queued(op: Proc) -> int:
    with sqlite3.connect(op.directory / "data" / "mss.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM outbound_queue").fetchone()[0])


def untried(op: Proc) -> int:
    with sqlite3.connect(op.directory / "data" / "mss.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM outbound_queue WHERE attempts = 0")
                   .fetchone()[0])


def fill(op: Proc, count: int, size: int, sessions: int = 10) -> None:
    per = -(-count // sessions)
    sent = 0
    for _ in range(sessions):
        with smtplib.SMTP("127.0.0.1", op.ports["submission"], timeout=60) as c:
            c.starttls(context=op.ca)
            c.login(ALICE, PASSWORD)
            for _ in range(min(per, count - sent)):
                c.sendmail(ALICE, [BOB], message(sent, size))
                sent += 1


def setup(root: Path, connections: int) -> tuple[Proc, Proc]:
    pki = Pki.create(root / "pki")
    pa, pb = free_port(), free_port()
    a = _init(root, pki, DOMAIN_A, pa, DOMAIN_B, pb, None)
    b = _init(root, pki, DOMAIN_B, pb, DOMAIN_A, pa, None)
    for op, user in ((a, ALICE), (b, BOB)):
        cfg = op.directory / "mss.toml"
        cfg.write_text(cfg.read_text().replace(
            "retry_base = 1\nretry_max = 2\n",
            f"retry_base = 3600\nretry_max = 3600\nconnections = {connections}\n"))
        trust = root / "liste.xml"
        trust.write_bytes(standard_trust_list())
        assert op.mss("trustlist", "import", str(trust)).returncode == 0
        assert op.mss("bal", "add", user, "--type", "PER", "--rpps", "10000000001",
                      "--password-stdin", stdin=PASSWORD).returncode == 0
    return a, b


def throughput(a: Proc, b: Proc, count: int, size: int) -> dict[str, float]:
    a.serve()
    fill(a, count, size)
    while untried(a):
        time.sleep(0.2)
    b.serve()
    assert a.mss("queue", "retry").returncode == 0
    start = time.perf_counter()
    while queued(a):
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    return {"messages": count, "size": size, "seconds": round(seconds, 2),
            "messages_per_s": round(count / seconds, 1)}


def latency(a: Proc, b: Proc, count: int, size: int) -> dict[str, float]:
    imap = imaplib.IMAP4_SSL("127.0.0.1", b.ports["imaps"], ssl_context=b.ca, timeout=60)
    imap.login(BOB, PASSWORD)

    def messages() -> int:
        _typ, data = imap.status("INBOX", "(MESSAGES)")
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))  # type: ignore[union-attr]

    got = []
    with smtplib.SMTP("127.0.0.1", a.ports["submission"], timeout=60) as c:
        c.starttls(context=a.ca)
        c.login(ALICE, PASSWORD)
        for i in range(count):
            before = messages()
            c.sendmail(ALICE, [BOB], message(100_000 + i, size))
            accepted = time.perf_counter()
            while messages() == before:
                time.sleep(0.002)
            got.append((time.perf_counter() - accepted) * 1000)
    imap.logout()
    got.sort()
    return {"messages": count, "median_ms": round(statistics.median(got), 1),
            "p99_ms": round(got[max(0, int(len(got) * 0.99) - 1)], 1),
            "max_ms": round(got[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--latency", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = setup(Path(tmp), args.connections)
        try:
            result = {"throughput": throughput(a, b, args.messages, args.size),
                      "latency": latency(a, b, args.latency, args.size),
                      "connections": args.connections, "load_avg": os.getloadavg()}
        finally:
            for op in (a, b):
                if op.proc is not None and op.proc.poll() is None:
                    op.proc.kill()
                    op.proc.wait()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
