"""Server CPU per IMAP command, mss-server beside the Dovecot reference, command by command.

One IMAPS connection per server, logged in, a folder of its own created for the run
(`--messages` small messages appended first; the folder is deleted at the end, so
the reference's mailboxes do not grow from run to run), then each command of the
list sent `--repeat` times one after the other (each waits for its tagged reply),
after 100 not counted. For each command: the server's CPU (user + system, ours: the
`mss serve` process and its worker, the reference: the processes named as Dovecot's
are, as `imaptest_rounds.py` counts them) and the wall time, per command, in
microseconds. The servers take turns command by command (ours, then the
reference), so that a slow moment of the machine reaches both; `--turns` runs the
whole list that many times and the medians are printed. Commands: the imaptest
shapes (STATUS, LIST, FETCH of a range with index items, with ENVELOPE and
BODYSTRUCTURE, with header fields, of one body), STORE of three messages flipping
`\\Deleted` (`STORE-TOGGLE`), an EXPUNGE that finds nothing, NOOP and an APPEND of
a 1.7 KB message (`APPEND`; the folder grows by `--repeat` messages per turn).

    .venv/bin/python bench/command_cpu.py --reference 127.0.0.1:10993 [--repeat 2000]
        [--turns 3] [--messages 20]

Our side is built as `imaptest_rounds.py` builds it (SQLite, or a fresh database on
the PostgreSQL server of `MSS_TEST_DATABASE_URL`), with one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import imaptest_rounds as rounds  # noqa: E402
from idle_memory import raise_nofile, served_operator  # noqa: E402

from tests.support import PASSWORD  # noqa: E402

COMMANDS = (
    "NOOP",
    "STATUS {folder} (MESSAGES UIDNEXT UNSEEN)",
    'LIST "" *',
    "FETCH 1:10 (FLAGS INTERNALDATE RFC822.SIZE)",
    "FETCH 1:10 (ENVELOPE BODYSTRUCTURE)",
    "FETCH 1:10 (BODY.PEEK[HEADER.FIELDS (From To Subject)])",
    "FETCH 3 (UID BODY.PEEK[HEADER])",
    "FETCH 3 (UID BODY.PEEK[])",
    "FETCH 3 (UID BODY.PEEK[1])",
    "STORE-TOGGLE",
    "EXPUNGE",
    "APPEND",
)
CpuOf = Callable[[int, str], bool]
TAG = b"zq9"  # never at the start of a line of the messages appended here


def _message(n: int) -> bytes:
    lines = [f"Line {k} of the message: " + "x" * (k * 7 % 60) for k in range(25)]
    return ("From: a@example.test\r\nTo: b@example.test\r\nSubject: Message {n}\r\n"
            f"Message-ID: <m{n}@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + "\r\n".join(lines) + "\r\n").encode()


class Client:
    """One logged-in IMAPS connection with a folder of its own selected."""

    def __init__(self, port: int, user: str, password: str, folder: str) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # loopback test CA
        self.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        self.sock.recv(4096)
        self.folder = folder
        self.flip = False
        self.call(f'LOGIN "{user}" "{password}"'.encode())
        self.call(b"CREATE " + folder.encode())
        self.call(b"SELECT " + folder.encode())

    def call(self, line: bytes, literal: bytes | None = None) -> bytes:
        """Send one command (tag `TAG`) and read up to its tagged reply, which must be OK."""
        if literal is not None:  # LITERAL+ on both servers: no continuation awaited
            line += b" {%d+}\r\n" % len(literal) + literal
        self.sock.sendall(TAG + b" " + line + b"\r\n")
        buf = b""
        while not (buf.endswith(b"\r\n") and (buf.startswith(TAG + b" ")
                                               or b"\r\n" + TAG + b" " in buf)):
            data = self.sock.recv(65536)
            if not data:
                raise SystemExit("the server closed the connection")
            buf += data
        tagged = (b"\r\n" + buf).rsplit(b"\r\n" + TAG + b" ", 1)[1]
        if not tagged.startswith(b"OK"):
            raise SystemExit(f"{line[:60]!r}: {tagged.strip()[:200]!r}")
        return buf

    def one(self, command: str) -> None:
        if command == "APPEND":
            self.call(b"APPEND " + self.folder.encode(), _message(0))
        elif command == "STORE-TOGGLE":
            self.flip = not self.flip
            self.call(b"STORE 1:3 %sFLAGS (\\Deleted)" % (b"+" if self.flip else b"-"))
        else:
            self.call(command.format(folder=self.folder).encode())

    def close(self) -> None:
        self.call(b"CLOSE")
        self.call(b"DELETE " + self.folder.encode())
        self.call(b"LOGOUT")
        self.sock.close()


def measure(client: Client, match: CpuOf, command: str, repeat: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per command."""
    for _ in range(100):
        client.one(command)
    cpu0, wall0 = rounds.cpu_seconds(match), time.perf_counter()
    for _ in range(repeat):
        client.one(command)
    cpu1, wall1 = rounds.cpu_seconds(match), time.perf_counter()
    return (cpu1 - cpu0) * 1e6 / repeat, (wall1 - wall0) * 1e6 / repeat


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    raise_nofile()
    folder = f"bench{os.getpid()}"
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        c: {"mss": [], "reference": []} for c in COMMANDS}
    host, _, port = args.reference.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the reference must be on loopback")

    async def prepare(directory: Path, url: str | None) -> str | None:
        await rounds.prepare(directory, 1, url, 1)
        return url

    async with served_operator(prepare, prefix="mss-command-cpu-") as (url, proc, ports, _):
        sides: dict[str, tuple[Client, CpuOf]] = {
            "mss": (Client(ports["imaps"], f"user1@{rounds.DOMAIN}", PASSWORD, folder),
                    rounds.tree_of(proc.pid)),
            "reference": (Client(int(port), args.reference_user, args.reference_pass, folder),
                          rounds.reference_processes)}
        for client, _ in sides.values():
            for n in range(args.messages):
                client.call(b"APPEND " + folder.encode(), _message(n + 1))
        for _ in range(args.turns):
            for command in COMMANDS:
                for side, (client, match) in sides.items():
                    samples[command][side].append(measure(client, match, command, args.repeat))
        for client, _ in sides.values():
            client.close()
    table = {}
    for command, by_side in samples.items():
        row: dict[str, float] = {}
        for side, values in by_side.items():
            row[f"{side}_cpu_us"] = round(statistics.median(v[0] for v in values), 1)
            row[f"{side}_wall_us"] = round(statistics.median(v[1] for v in values), 1)
        row["cpu_ratio"] = round(row["mss_cpu_us"] / max(row["reference_cpu_us"], 0.1), 2)
        table[command] = row
    return {"database": "postgresql" if url else "sqlite", "repeat": args.repeat,
            "turns": args.turns, "messages": args.messages, "commands": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default="127.0.0.1:10993")
    parser.add_argument("--reference-user", default="user2")
    parser.add_argument("--reference-pass", default="pass")
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20)
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
