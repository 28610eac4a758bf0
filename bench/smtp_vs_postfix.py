"""SMTP accept rate of mss-server and of the Postfix reference, in one run, same load client.

Each round runs the load client of `smtp_rate.py` (a child process, aiosmtplib,
`--connections` reused sessions, `--messages` messages of `--size` octets)
first against the Postfix reference on 127.0.0.1:10025 (Postfix 3.7 smtpd on
loopback, plain SMTP, no AUTH, delivering over LMTP into Dovecot; recipient
`user1@example.test`),
waits until Postfix's queue has drained into Dovecot (so that its delivery
work does not run beside our measure), then against a fresh mss-server
operator started in-process (submission, STARTTLS + AUTH PLAIN, every message
durably committed, policy-checked and encrypted before its `250`). SQLite, or
PostgreSQL with `MSS_TEST_DATABASE_URL`. With `--workers N`, our side is `mss serve`
as its own process with `server.workers = N` (0: one per core), as an operator runs
it. Prints one JSON line per round and a
summary with the medians and the ratio of the medians; the load average is
recorded at the start of every round.

    .venv/bin/python bench/smtp_vs_postfix.py [--rounds 3] [--messages 2000]
        [--connections 10] [--size 4096] [--postfix 127.0.0.1:10025] [--workers N]

The reference must be loopback only; the script refuses another host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))

from smtp_rate import run_client, serve_process  # noqa: E402

import server  # noqa: E402
from tests.support import PASSWORD, is_postgres, make_operator, serving  # noqa: E402


def postfix_queue_empty() -> bool:
    out = subprocess.run(["postqueue", "-p"], capture_output=True, text=True, check=False)
    return "Mail queue is empty" in out.stdout


async def wait_postfix_drained(limit: float = 300.0) -> float:
    t0 = time.perf_counter()
    while not await asyncio.to_thread(postfix_queue_empty):
        if time.perf_counter() - t0 > limit:
            raise RuntimeError("the Postfix queue did not drain")
        await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def postfix_round(args: argparse.Namespace) -> float:
    host, _, port = args.postfix.partition(":")
    await wait_postfix_drained()
    seconds = await run_client(host, int(port), "-", "", "", "load@example.test",
                               "user1@example.test", args)
    await wait_postfix_drained()
    return args.messages / seconds


async def ours_round(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory(prefix="mss-vs-postfix-") as tmp:
        op = await make_operator(Path(tmp))
        async with serving(op):
            sender, rcpt = await op.add_bal("alice"), await op.add_bal("bob")
            seconds = await run_client("127.0.0.1", op.ports["submission"], str(op.ca_file),
                                       sender, PASSWORD, sender, rcpt, args)
    return args.messages / seconds


async def ours_serving_round(args: argparse.Namespace) -> float:
    """The same against `mss serve` as a process with `--workers` worker processes
    (`smtp_rate`'s set-up: per-address cap raised, logins allowed to wait)."""
    with tempfile.TemporaryDirectory(prefix="mss-vs-postfix-") as tmp:
        seconds = await serve_process(await make_operator(Path(tmp)), args)
    return args.messages / seconds


async def main(args: argparse.Namespace) -> None:
    if not args.postfix.startswith(("127.", "localhost")):
        raise SystemExit("the reference must be on loopback")
    database = "postgresql" if is_postgres() else "sqlite"
    postfix, ours = [], []
    for n in range(1, args.rounds + 1):
        load = os.getloadavg()[0]
        postfix.append(await postfix_round(args))
        ours.append(await (ours_serving_round(args) if args.workers is not None
                           else ours_round(args)))
        print(json.dumps({"round": n, "database": database, "load_average": round(load, 2),
                          "postfix_per_s": round(postfix[-1], 1),
                          "ours_per_s": round(ours[-1], 1),
                          "ratio": round(ours[-1] / postfix[-1], 3)}), flush=True)
    pm, om = statistics.median(postfix), statistics.median(ours)
    print(json.dumps({"summary": True, "database": database, "rounds": args.rounds,
                      "messages": args.messages, "connections": args.connections,
                      "size": args.size, "workers": args.workers, "pin": not args.no_pin,
                      "postfix_median_per_s": round(pm, 1),
                      "ours_median_per_s": round(om, 1), "ratio_of_medians": round(om / pm, 3),
                      "tree": os.path.dirname(os.path.dirname(server.__file__))}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--postfix", default="127.0.0.1:10025")
    parser.add_argument("--workers", type=int, default=None,
                        help="run `mss serve` as a process with this many workers (0: the "
                             "cores) instead of the operator in this process")
    parser.add_argument("--no-pin", action="store_true",
                        help="with --workers: server.pin_workers = false")
    asyncio.run(main(parser.parse_args()))
