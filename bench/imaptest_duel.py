"""Two trees of mss-server under imaptest at the same time: an A/B comparison that
the machine's noise reaches equally.

On a noisy 2-core machine, two runs of the same tree one after the other differ by
up to 30 % (bench/README.md); runs alternated ABBA still leave the order and the
moment in the result. Here both trees serve at once, each its own operator built as
`imaptest_rounds.py` builds one (SQLite, or a fresh database each on the PostgreSQL
server of `MSS_TEST_DATABASE_URL`), each under its own `imaptest` (`logout=0`,
`--clients` each) for the same seconds: they share the cores, so the tree that
spends less CPU per command answers more commands. Prints, per round and per tree,
the commands per second, the server's CPU per command and imaptest's error lines.

    .venv/bin/python bench/imaptest_duel.py --trees /path/to/old/tree . [--rounds 4]

A tree is a checkout of this repository (a `git worktree` of another commit); its
server runs with `PYTHONPATH` set to it, the operators are built by this checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from idle_memory import raise_nofile, start_server  # noqa: E402
from imaptest_rounds import DOMAIN, imaptest, prepare, tree_of, write_mbox  # noqa: E402

from tests.support import (  # noqa: E402
    PASSWORD,
    create_pg_database,
    drop_pg_database,
    is_postgres,
)


async def main_async(args: argparse.Namespace,
                     trees: list[Path]) -> list[list[dict[str, object]]]:
    raise_nofile()
    rounds: list[list[dict[str, object]]] = []
    with tempfile.TemporaryDirectory(prefix="mss-duel-") as tmp:
        mbox = Path(tmp) / "source.mbox"
        write_mbox(mbox)
        servers, databases = [], []
        try:
            for index, tree in enumerate(trees):
                url, name = (await create_pg_database()) if is_postgres() else (None, None)
                databases.append(name)
                directory = Path(tmp) / f"op{index}"
                await prepare(directory, args.users, url, args.workers)
                servers.append(start_server(directory, tree))
            load = argparse.Namespace(mix="logout0", users=args.users, clients=args.clients,
                                      secs=args.secs)
            for _ in range(args.rounds):
                out: list[dict[str, object]] = [{} for _ in servers]

                def run(index: int, out: list[dict[str, object]] = out) -> None:
                    proc, ports = servers[index]
                    out[index] = imaptest(args.imaptest, "127.0.0.1", ports["imaps"],
                                          f"user%d@{DOMAIN}", PASSWORD, load, mbox,
                                          tree_of(proc.pid))

                threads = [threading.Thread(target=run, args=(i,)) for i in range(len(servers))]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                rounds.append([{"tree": str(tree), **{k: result.get(k) for k in (
                    "commands_per_s", "server_cpu_ms_per_command", "error_lines")}}
                    for tree, result in zip(trees, out, strict=True)])
                print(json.dumps(rounds[-1]), flush=True)
        finally:
            for proc, _ in servers:
                proc.terminate()
                proc.wait(timeout=60)
            for name in databases:
                if name:
                    await drop_pg_database(name)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, required=True, help="two checkouts")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--secs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=10, help="imaptest clients per tree")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0, help="[server] workers (0: cores)")
    parser.add_argument("--imaptest", default="imaptest")
    args = parser.parse_args()
    asyncio.run(main_async(args, [Path(t).resolve() for t in args.trees]))


if __name__ == "__main__":
    main()
