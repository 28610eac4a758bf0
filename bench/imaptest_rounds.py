"""imaptest stress rounds against mss-server and a reference IMAP server, interleaved.

Builds an operator the way the tests do (`mss init` in a temporary folder,
ports 0; SQLite, or a fresh database on the PostgreSQL server of
`MSS_TEST_DATABASE_URL`), creates BALs `user1` .. `userN` (argon2id
passwords), runs `mss serve` as a real process (with `--workers`), then runs
Dovecot's `imaptest` (on PATH, or `--imaptest`; built locally, never
committed: see bench/README.md "imaptest") `--rounds` times against it and,
in the same rounds, against the reference server given with `--reference
HOST:PORT` (users `user%d`, password `--reference-pass`), implicit TLS on
both. imaptest's APPEND source is a deterministic mbox written here.

Prints one JSON object: per round and per server the commands per second
(all but LOGOUT), the server's CPU per command (ours: `mss serve` and its
workers; the reference: the processes named as Dovecot's are), imaptest's error
lines, per-command totals; the medians; the ratio of the medians; the load average
before and after.

    .venv/bin/python bench/imaptest_rounds.py --reference 127.0.0.1:10993 \\
        [--rounds 3] [--secs 30] [--clients 10] [--users 50] [--mix logout0|default] \\
        [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

sys.path.append(str(Path(__file__).resolve().parent.parent))

from idle_memory import raise_nofile, served_operator  # noqa: E402

from server import config as config_mod  # noqa: E402
from server.initdir import InitOptions, init_directory  # noqa: E402
from server.storage import admin_store  # noqa: E402
from tests.support import (  # noqa: E402
    PASSWORD,
    set_ports_to_zero,
)

DOMAIN = "bench.mssante.fr"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def write_mbox(path: Path, count: int = 200) -> None:
    """A deterministic mbox of `count` small text messages (imaptest's APPEND source)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("wb") as out:
        for i in range(count):
            msg = EmailMessage()
            msg["From"] = f"sender{i % 7}@example.test"
            msg["To"] = f"user{i % 50 + 1}@example.test"
            msg["Subject"] = f"Message {i} about case {i * 37 % 1000}"
            msg["Date"] = format_datetime(start + timedelta(minutes=i))
            msg["Message-ID"] = f"<bench-{i}@example.test>"
            msg.set_content("\n".join(f"Line {k} of message {i}: " + "x" * (k * 7 % 60)
                                      for k in range(5 + i % 40)) + "\n")
            data = msg.as_bytes().replace(b"\r\n", b"\n")
            data = re.sub(rb"(?m)^(>*From )", rb">\1", data)
            out.write(b"From bench@example.test Thu Jan  1 00:00:00 2026\n" + data + b"\n")


async def prepare(directory: Path, users: int, url: str | None, workers: int,
                  pin: bool = True) -> None:
    await asyncio.to_thread(init_directory, InitOptions(directory, DOMAIN, hostname="localhost",
                                                        database_url=url))
    cfg_path = directory / "mss.toml"
    set_ports_to_zero(cfg_path)
    text = cfg_path.read_text().replace(
        "[server]\n", f"[server]\nworkers = {workers}\npin_workers = {str(pin).lower()}\n", 1)
    cfg_path.write_text(text + "\n[auth]\nlogin_wait_ms = 60000\n")
    cfg = config_mod.load(cfg_path)
    async with admin_store(cfg) as st:
        for i in range(1, users + 1):
            await st.accounts.create_bal(f"user{i}@{DOMAIN}", "PER", password=PASSWORD,
                                         rpps="10000000001")


_TICK = os.sysconf("SC_CLK_TCK")
REFERENCE_NAMES = frozenset({"dovecot", "imap", "imap-login", "auth", "anvil", "log",
                             "config", "stats"})


def cpu_seconds(match: Callable[[int, str], bool]) -> float:
    """User + system CPU of the processes `match(pid, name)` selects, their waited-for
    children included (a Dovecot `imap` process that exited counts in its master's)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if match(int(entry), name):
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def tree_of(root: int) -> Callable[[int, str], bool]:
    """A matcher for `root` and its child processes (`mss serve` and its workers)."""
    def match(pid: int, name: str) -> bool:
        if pid == root:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return int(stat[stat.rindex(")") + 2 :].split()[1]) == root
    return match


def reference_processes(pid: int, name: str) -> bool:
    return name in REFERENCE_NAMES


def imaptest(binary: str, host: str, port: int, user: str, password: str,
             args: argparse.Namespace, mbox: Path,
             server_cpu: Callable[[int, str], bool]) -> dict[str, object]:
    """One imaptest run; its totals per command, the rates and the server's CPU per
    command (the processes `server_cpu` selects)."""
    extra = ["logout=0"] if args.mix == "logout0" else []
    cpu_before = cpu_seconds(server_cpu)
    with tempfile.TemporaryDirectory(prefix="imaptest-") as work:
        cmd = [binary, f"host={host}", f"port={port}", f"user={user}", f"pass={password}",
               f"users={args.users}", f"clients={args.clients}", f"secs={args.secs}",
               "seed=1", f"mbox={mbox}", "ssl=any-cert", *extra]
        run = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                             timeout=args.secs + 120, check=False)
    server_seconds = cpu_seconds(server_cpu) - cpu_before
    lines = [ANSI.sub("", line) for line in run.stdout.splitlines()]
    errors = [line for line in lines if line.startswith(("Error:", "Fatal:", "Panic:"))]
    try:
        at = lines.index("Totals:")
        names, totals = lines[at + 1].split(), [int(x) for x in lines[at + 4].split()]
    except (ValueError, IndexError):
        return {"failed": True, "tail": lines[-10:] + run.stderr.splitlines()[-5:]}
    per = dict(zip(names, totals, strict=False))
    commands = sum(v for k, v in per.items() if k != "Logo")
    return {"commands_per_s": round(commands / args.secs, 1), "totals": per,
            "server_cpu_ms_per_command": round(server_seconds * 1000 / max(commands, 1), 3),
            "error_lines": len(errors), "errors": sorted(set(errors))[:5]}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    raise_nofile()
    binary = args.imaptest or shutil.which("imaptest")
    if not binary:
        raise SystemExit("imaptest is not on PATH (see bench/README.md 'imaptest')")
    load_before = os.getloadavg()

    async def build(directory: Path, url: str | None) -> str | None:
        await prepare(directory, args.users, url, args.workers, not args.no_pin)
        return url

    async with served_operator(build, prefix="mss-imaptest-") as (url, proc, ports, tmp):
        mbox = tmp / "source.mbox"
        write_mbox(mbox)
        rounds = []
        for _ in range(args.rounds):
            ours = imaptest(binary, "127.0.0.1", ports["imaps"], f"user%d@{DOMAIN}",
                            PASSWORD, args, mbox, tree_of(proc.pid))
            ref = None
            if args.reference:
                host, _, port = args.reference.rpartition(":")
                ref = imaptest(binary, host, int(port), "user%d", args.reference_pass,
                               args, mbox, reference_processes)
            rounds.append({"mss": ours, "reference": ref})

    def median(side: str) -> float | None:
        values = [float(r[side]["commands_per_s"]) for r in rounds  # type: ignore[index]
                  if r[side] and "commands_per_s" in r[side]]  # type: ignore[operator]
        return statistics.median(values) if values else None

    ours_m, ref_m = median("mss"), median("reference")
    return {"database": "postgresql" if url else "sqlite", "mix": args.mix,
            "workers": args.workers, "pin": not args.no_pin, "clients": args.clients,
            "users": args.users,
            "secs": args.secs, "rounds": rounds, "median_mss": ours_m, "median_reference": ref_m,
            "ratio": round(ours_m / ref_m, 3) if ours_m and ref_m else None,
            "load_before": load_before, "load_after": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default="", help="HOST:PORT of the reference IMAPS")
    parser.add_argument("--reference-pass", default="pass")
    parser.add_argument("--imaptest", default="")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=int, default=30)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0, help="[server] workers (0: cores)")
    parser.add_argument("--mix", choices=["logout0", "default"], default="logout0")
    parser.add_argument("--no-pin", action="store_true", help="server.pin_workers = false")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
