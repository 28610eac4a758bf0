"""Accepted SMTP messages per second: submission with STARTTLS + AUTH, reused connections.

Starts an operator in-process the way the tests do (`tests.support`: SQLite, or a
fresh database on the PostgreSQL server of `MSS_TEST_DATABASE_URL`), adds two
BALs, then a child process (so the client's CPU work stays out of the server's
process) opens `--connections` SMTP sessions with STARTTLS and AUTH PLAIN and
sends `--messages` messages of `--size` octets over them, each message to the
other BAL; every one must get `250` (durably committed, policy-checked,
encrypted). The clock starts once every session is set up (connected, and
for ours through STARTTLS and AUTH) and stops at the last reply: the rate is
that of accepting messages over reused connections. Prints JSON: messages,
seconds, messages per second. `bench/smtp_vs_postfix.py` runs the same client
against the Postfix reference in the same run.

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
host, port, cafile, login, password, mail_from, rcpt, n, c, size = sys.argv[1:11]
n, c, size = int(n), int(c), int(size)
body = (f"From: <{mail_from}>\r\nTo: <{rcpt}>\r\nSubject: rate\r\n\r\n"
        + ("x" * 78 + "\r\n") * max(1, size // 80)).encode()
# cafile "-": plain SMTP, no STARTTLS, no AUTH (the Postfix reference); else STARTTLS + AUTH
ctx = ssl.create_default_context(cafile=cafile) if cafile != "-" else None
left = n
ready, go = 0, asyncio.Event()

async def worker():
    global left, ready
    smtp = aiosmtplib.SMTP(hostname=host, port=int(port), tls_context=ctx,
                           start_tls=ctx is not None, timeout=60)
    await smtp.connect()
    for attempt in range(10):  # a 454 (logins queued too long on a busy machine): retry
        if ctx is None:
            break
        try:
            await smtp.login(login, password)
            break
        except aiosmtplib.SMTPAuthenticationError as exc:
            if exc.code != 454 or attempt == 9:
                raise
            await asyncio.sleep(0.5)
    ready += 1
    if ready == c:
        go.set()
    await go.wait()
    while left > 0:
        left -= 1
        errors, _ = await smtp.sendmail(mail_from, [rcpt], body)
        if errors:
            raise RuntimeError(errors)
    await smtp.quit()

async def main():
    t0 = time.perf_counter()
    task = asyncio.ensure_future(asyncio.gather(*(worker() for _ in range(c))))
    started = asyncio.ensure_future(go.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # a session failed before all were set up
        task.result()
    t1 = time.perf_counter()
    await task
    t2 = time.perf_counter()
    print(json.dumps({"seconds": t2 - t1, "with_sessions": t2 - t0}))

asyncio.run(main())
"""

async def run_client(host: str, port: int, cafile: str, login: str, password: str,
                     mail_from: str, rcpt: str, args: argparse.Namespace) -> float:
    """Run the load client in a child process; the seconds it took for all messages.
    `cafile` "-" sends plain SMTP without AUTH (the Postfix reference)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT_CHILD, host, str(port), cafile, login, password,
        mail_from, rcpt, str(args.messages), str(args.connections), str(args.size),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError("the load client failed")
    return float(json.loads(out)["seconds"])


async def _load(port: int, op: Operator, sender: str, rcpt: str,
                args: argparse.Namespace) -> float:
    return await run_client("127.0.0.1", port, str(op.ca_file), sender, PASSWORD, sender, rcpt,
                            args)


async def _in_process(op: Operator, args: argparse.Namespace) -> float:
    async with serving(op):
        sender, rcpt = await op.add_bal("alice"), await op.add_bal("bob")
        return await _load(op.ports["submission"], op, sender, rcpt, args)


async def serve_process(op: Operator, args: argparse.Namespace) -> float:
    """`mss serve` with `workers = args.workers`, as a child process."""
    path = op.directory / "mss.toml"
    path.write_text(path.read_text().replace(
        "[server]\n", f"[server]\nworkers = {args.workers}\n"
        f"pin_workers = {str(not args.no_pin).lower()}\n", 1)
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
            seconds = await serve_process(op, args)
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
    parser.add_argument("--no-pin", action="store_true",
                        help="with --workers: server.pin_workers = false")
    asyncio.run(main(parser.parse_args()))
