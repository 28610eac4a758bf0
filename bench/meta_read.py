"""The stored metas of large messages read on SQLite, before and after migration 0014.

Builds a SQLite database at revision 0013 (`meta` after `body` in
`message_content`), stores `--messages` messages of `--size` octets (random bodies,
a `--meta`-octet sealed meta each, one folder), and times the read unit FETCH
ENVELOPE / BODYSTRUCTURE / header items use (`mailbox_sql.sealed_parts("meta", ...)`
through the server's `ReadPool`, on the event loop as the server runs it); then
upgrades to 0014 (`body` last: the rebuild is timed too) and times the same read.
Prints one JSON object: median milliseconds per read of all the messages' metas
(`--repeat` reads each, after one not counted), the disk space of the database (its
write-ahead log included) before, at its peak during and after the migration, and the
migration's seconds.

    .venv/bin/python bench/meta_read.py [--messages 50] [--size 1048576] [--repeat 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from alembic import command  # noqa: E402

from imap_store.store import mailbox_sql  # noqa: E402
from imap_store.store.db import SQLITE_PRAGMAS  # noqa: E402
from imap_store.store.read_pool import ReadPool  # noqa: E402
from server.migrate import alembic_config  # noqa: E402


def _disk_mb(path: Path) -> float:
    """The database's files on disk: the database, its write-ahead log and shared memory."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.exists()) / 1e6


def fill(path: Path, messages: int, size: int, meta: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as the server leaves every database
    with conn:
        conn.execute("INSERT INTO bal (id, address, bal_type, password_epoch, status, "
                     "liste_rouge, created_at, published) VALUES (1, 'a@op.mssante.fr', "
                     "'PER', 0, 'active', 0, CURRENT_TIMESTAMP, 0)")
        conn.execute("INSERT INTO folder (id, bal_id, name, subscribed, uidvalidity, uidnext, "
                      "highestmodseq, recent_uid) VALUES (1, 1, 'INBOX', 1, 1, ?, 1, 0)",
                      (messages + 1,))
        for uid in range(1, messages + 1):
            conn.execute("INSERT INTO message_content (id, bal_id, key_version, size, body, "
                         "received_at, meta) VALUES (?, 1, 1, ?, ?, CURRENT_TIMESTAMP, ?)",
                         (f"c{uid:08d}", size, os.urandom(size), os.urandom(meta)))
            conn.execute("INSERT INTO mailbox_entry (folder_id, uid, content_id, flags, "
                         "internaldate, modseq) VALUES (1, ?, ?, '', CURRENT_TIMESTAMP, 1)",
                         (uid, f"c{uid:08d}"))
    conn.close()


async def read_ms(path: Path, messages: int, repeat: int) -> float:
    pool = ReadPool(sqlite_path=str(path), sqlite_pragmas=SQLITE_PRAGMAS)
    uids = list(range(1, messages + 1))
    unit = partial(mailbox_sql.sealed_parts, "meta", 1, 1, uids)
    try:
        assert len(await pool.run(unit)) == messages
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await pool.run(unit, single=mailbox_sql.one_statement(uids))
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        await pool.close()
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--meta", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mss-meta-") as tmp:
        path = Path(tmp) / "mss.sqlite3"
        url = f"sqlite:///{path}"
        command.upgrade(alembic_config(url, Path(tmp)), "0013")
        fill(path, args.messages, args.size, args.meta)
        before = asyncio.run(read_ms(path, args.messages, args.repeat))
        stored_mb = _disk_mb(path)
        peak = [stored_mb]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.01):
                peak[0] = max(peak[0], _disk_mb(path))

        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.perf_counter()
        command.upgrade(alembic_config(url, Path(tmp)), "0014")
        migration_s = time.perf_counter() - t0
        done.set()
        sampler.join()
        after = asyncio.run(read_ms(path, args.messages, args.repeat))
        size_mb = _disk_mb(path)
    print(json.dumps({"messages": args.messages, "size": args.size, "meta": args.meta,
                      "meta_read_ms_body_before_meta": before,
                      "meta_read_ms_body_last": after,
                      "disk_mb_before": round(stored_mb, 1),
                      "disk_mb_peak_during_migration": round(peak[0], 1),
                      "disk_mb_after": round(size_mb, 1),
                      "migration_s": round(migration_s, 2),
                      "migration_mb_per_s": round(stored_mb / migration_s, 1)}))


if __name__ == "__main__":
    main()
