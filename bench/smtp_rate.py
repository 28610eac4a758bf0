"""Accepted SMTP messages per second: submission with STARTTLS + AUTH, reused connections.

Starts an operator in-process the way the tests do (`tests.support`: SQLite, or a
fresh database on the PostgreSQL server of `MSS_TEST_DATABASE_URL`), adds two
BALs, then a child process (so the client's CPU work stays out of the server's
process) opens `--connections` SMTP sessions with STARTTLS and AUTH PLAIN and
sends `--messages` messages of `--size` octets over them, each message to the
other BAL; every one must get `250` (durably committed, policy-checked,
encrypted). Prints JSON: messages, seconds, messages per second.

    .venv/bin/python bench/smtp_rate.py [--messages 600] [--connections 10] [--size 4096]
                                        [--workers N]

With `--workers N` the server is `mss serve` as a real process tree with `[server]
workers = N` (N = 1: one process), the per-address connection cap raised so that the
client's connections from one address are never refused by one worker's part of it,
and `auth.login_wait_ms` at its maximum: each worker checks the logins from one address
one at a time, which takes longer than the default wait on a loaded machine.

The code measured is the one `import server` finds first: `PYTHONPATH=<tree>`
measures another checkout (the repository root is used otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

import server  # noqa: E402
from server import config as config_mod  # noqa: E402
from server.storage import admin_store  # noqa: E402
from tests.support import (  # noqa: E402
    DOMAIN,
    PASSWORD,
    Operator,
    drop_pg_database,
    make_operator,
    serving,
)

CLIENT_CHILD = r"""
import asyncio, json, ssl, sys, time
import aiosmtplib
port, cafile, login, password, rcpt, n, c, size = sys.argv[1:9]
n, c, size = int(n), int(c), int(size)
body = (f"From: <{login}>\r\nTo: <{rcpt}>\r\nSubject: rate\r\n\r\n"
        + ("x" * 78 + "\r\n") * max(1, size // 80)).encode()
ctx = ssl.create_default_context(cafile=cafile)
left = n

async def worker():
    global left
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=int(port), tls_context=ctx,
                           start_tls=True, timeout=60)
    await smtp.connect()
    await smtp.login(login, password)
    while left > 0:
        left -= 1
        errors, _ = await smtp.sendmail(login, [rcpt], body)
        if errors:
            raise RuntimeError(errors)
    await smtp.quit()

async def main():
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    print(json.dumps({"seconds": time.perf_counter() - t0}))

asyncio.run(main())
"""


async def _load(port: int, op: Operator, sender: str, rcpt: str,
                args: argparse.Namespace) -> float:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT_CHILD, str(port), str(op.ca_file), sender, PASSWORD,
        rcpt, str(args.messages), str(args.connections), str(args.size),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError("the load client failed")
    return float(json.loads(out)["seconds"])


async def _in_process(op: Operator, args: argparse.Namespace) -> float:
    async with serving(op):
        sender, rcpt = await op.add_bal("alice"), await op.add_bal("bob")
        return await _load(op.ports["submission"], op, sender, rcpt, args)


async def _serve_process(op: Operator, args: argparse.Namespace) -> float:
    """`mss serve` with `workers = args.workers`, as a child process."""
    path = op.directory / "mss.toml"
    path.write_text(path.read_text().replace(
        "[server]\n", f"[server]\nworkers = {args.workers}\n", 1)
        + "\n[limits]\nsmtp_max_preauth_per_address = 1000\n[auth]\nlogin_wait_ms = 60000\n")
    cfg = config_mod.load(path)
    sender, rcpt = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
    async with admin_store(cfg) as store:
        for address in (sender, rcpt):
            await store.accounts.create_bal(address, "PER", password=PASSWORD,
                                            rpps="10000000001")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "serve", stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "MSS_CONFIG": str(path)})
    try:
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode()
        ports = json.loads(line.split(" ", 2)[2].replace("'", '"'))
        return await _load(ports["submission"], op, sender, rcpt, args)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        if op.pg_name:
            await drop_pg_database(op.pg_name)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mss-rate-") as tmp:
        op = await make_operator(Path(tmp))
        if args.workers:
            seconds = await _serve_process(op, args)
        else:
            seconds = await _in_process(op, args)
    print(json.dumps({"tree": os.path.dirname(os.path.dirname(server.__file__)),
                      "database": "postgresql" if os.environ.get(
                          "MSS_TEST_DATABASE_URL", "").startswith("postgresql") else "sqlite",
                      "messages": args.messages, "connections": args.connections,
                      "size": args.size, "workers": args.workers or "in-process",
                      "seconds": round(seconds, 3),
                      "messages_per_second": round(args.messages / seconds, 1)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=0,
                        help="run `mss serve` with this many workers (default: in-process)")
    asyncio.run(main(parser.parse_args()))
