"""The scheduler's rules at scale: `inactivity` over 100,000 BALs, `retention` over
1,000,000 messages; their duration and their longest write transaction.

Builds an operator the way the tests do (`tests.support.make_operator`: `mss init`,
SQLite, or a fresh database on the PostgreSQL server of `MSS_TEST_DATABASE_URL`),
then bulk-inserts rows directly (setup only, not what is measured):

- inactivity: `--bals` BALs, five folders each, a real wrapped data key each;
  90 % active (last login 10 days ago), 8 % idle 100 days (to unpublish),
  1.5 % idle 340 days and unpublished (a D-30 notice to deliver through intake,
  sealed with the BAL's key), 0.5 % idle 370 days, unpublished, last notice
  8 days ago, with 20 messages each (to delete: content purged in batches, keys,
  folders and row removed, address reserved);
- retention: `--messages` messages in the Trash of `--mailboxes` other BALs,
  internal dates spread over 60 days (about half past the 30-day period).

Then runs each job once with the code path of `mss jobs run NAME --now` (its own
store, as the CLI does), and prints one JSON object: per job, its result line,
the wall time, the longest write transaction it held (a retention batch is
measured around the group-commit unit, commit included; a lifecycle transition
around its session transaction) and the number of retention batches; the load
average before and after (the machine is shared).

    .venv/bin/python bench/lifecycle_bench.py [--bals 100000] [--messages 1000000]
    MSS_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
      .venv/bin/python bench/lifecycle_bench.py

Ref: R25, R28.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))

from imap_store.store.crypto import key_aad, new_data_key  # noqa: E402
from imap_store.store.trustlists import TrustListStore  # noqa: E402
from server import config as config_mod  # noqa: E402
from server.job_types import JobContext  # noqa: E402
from server.lifecycle_jobs import inactivity, retention  # noqa: E402
from server.storage import key_provider, open_store  # noqa: E402
from tests.support import DOMAIN, drop_pg_database, make_operator  # noqa: E402

FOLDERS = ("INBOX", "Sent", "Drafts", "Trash", "Junk")
DAY = timedelta(days=1)


class Rows:
    """Bulk inserts on SQLite (sqlite3) or PostgreSQL (asyncpg COPY)."""

    def __init__(self, cfg: config_mod.Config) -> None:
        self.cfg = cfg
        db, _keys = open_store(cfg)
        self.sqlite = db.url.database if db.is_sqlite else None
        self.dsn = None if db.is_sqlite else db.url.set(drivername="postgresql").render_as_string(
            hide_password=False)

    async def insert(self, table: str, columns: Sequence[str],
                     rows: Iterable[tuple[Any, ...]]) -> None:
        data = list(rows)
        if self.sqlite:
            conn = sqlite3.connect(self.sqlite)
            marks = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                             [tuple(_sqlite(v) for v in r) for r in data])
            conn.commit()
            conn.close()
            return
        import asyncpg
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.copy_records_to_table(table, records=data, columns=list(columns))
        finally:
            await conn.close()

    async def bump_sequences(self) -> None:
        if self.sqlite:
            return
        import asyncpg
        conn = await asyncpg.connect(self.dsn)
        try:
            for table in ("bal", "folder", "mailbox_entry"):
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT max(id) FROM {table}))")
        finally:
            await conn.close()


def _sqlite(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


BAL_COLS = ("id", "address", "bal_type", "rpps", "password_epoch", "status", "liste_rouge",
            "created_at", "last_login_at", "published", "lifecycle_state", "notice_days",
            "notice_at")
FOLDER_COLS = ("id", "bal_id", "name", "special_use", "subscribed", "uidvalidity", "uidnext",
               "highestmodseq", "recent_uid")
CONTENT_COLS = ("id", "bal_id", "key_version", "size", "body", "received_at")
ENTRY_COLS = ("id", "folder_id", "uid", "content_id", "flags", "internaldate", "modseq")


def _profile(i: int, n: int, now: datetime) -> tuple[datetime, str, int | None, datetime | None]:
    """(last login, lifecycle state, notice days, notice at) of BAL i of n."""
    share = i / n
    if share < 0.90:
        return now - 10 * DAY, "active", None, None
    if share < 0.98:
        return now - 100 * DAY, "active", None, None
    if share < 0.995:
        return now - 340 * DAY, "unpublished", None, None
    return now - 370 * DAY, "unpublished", 7, now - 8 * DAY


async def fill_bals(rows: Rows, first: int, n: int, now: datetime, *,
                    profile: bool) -> None:
    provider = key_provider(rows.cfg)
    bals, folders, keys = [], [], []
    for i in range(n):
        bal_id = first + i
        login, state, nd, na = _profile(i, n, now) if profile else (now, "active", None, None)
        bals.append((bal_id, f"b{bal_id}@{DOMAIN}", "PER", "10000000001", 0, "active", False,
                     login - 5 * DAY, login, state == "active", state, nd, na))
        folders += [(bal_id * 5 + k, bal_id, name, None, True, 1, 1, 1, 0)
                    for k, name in enumerate(FOLDERS)]
        keys.append((bal_id, 1, provider.kek_id, provider.wrap(new_data_key(),
                                                               key_aad(bal_id, 1)), now))
    await rows.insert("bal", BAL_COLS, bals)
    await rows.insert("folder", FOLDER_COLS, folders)
    await rows.insert("bal_key", ("bal_id", "version", "kek_id", "wrapped", "created_at"),
                      keys)


async def fill_messages(rows: Rows, folder_bal: Sequence[tuple[int, int]], per_folder: int,
                        now: datetime, spread_days: int, first_entry: int) -> int:
    """`per_folder` entries in each (folder, bal), dates spread over `spread_days`."""
    entry = first_entry
    for start in range(0, len(folder_bal), 100):
        contents, entries = [], []
        for folder_id, bal_id in folder_bal[start:start + 100]:
            for uid in range(1, per_folder + 1):
                cid = secrets.token_hex(16)
                age = timedelta(seconds=spread_days * 86_400 * (per_folder - uid) / per_folder)
                contents.append((cid, bal_id, 1, 200, os.urandom(200), now - age))
                entries.append((entry, folder_id, uid, cid, "", now - age, 1))
                entry += 1
        await rows.insert("message_content", CONTENT_COLS, contents)
        await rows.insert("mailbox_entry", ENTRY_COLS, entries)
        await _set_uidnext(rows, [f for f, _b in folder_bal[start:start + 100]], per_folder + 1)
    return entry


async def _set_uidnext(rows: Rows, folder_ids: list[int], uidnext: int) -> None:
    ids = ",".join(str(f) for f in folder_ids)
    sql = f"UPDATE folder SET uidnext = {uidnext} WHERE id IN ({ids})"
    if rows.sqlite:
        conn = sqlite3.connect(rows.sqlite)
        conn.execute(sql)
        conn.commit()
        conn.close()
        return
    import asyncpg
    conn = await asyncpg.connect(rows.dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def timed(job: Any, cfg: config_mod.Config, now: datetime) -> dict[str, Any]:
    db, _keys = open_store(cfg)
    try:
        ctx = JobContext(cfg, TrustListStore(db))
        stats: dict[str, float] = {}
        started = time.perf_counter()
        result = await job(ctx, now, stats=stats)
        return {"result": result.message, "seconds": round(time.perf_counter() - started, 2),
                "longest_write_ms": round(stats.get("longest_write", 0) * 1000, 1),
                **{k.replace("longest_", "longest_ms_"): round(v * 1000, 1)
                   for k, v in stats.items() if k.startswith("longest_") and k != "longest_write"},
                **({"batches": int(stats["batches"])} if "batches" in stats else {})}
    finally:
        await db.dispose()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="mss-lifecycle-bench-"))
    op = await make_operator(tmp)
    try:
        rows = Rows(op.cfg)
        now = datetime.now(UTC).replace(microsecond=0)
        t = time.perf_counter()
        await fill_bals(rows, 1, args.bals, now, profile=True)
        doomed = [(b * 5, b) for b in range(1, args.bals + 1)
                  if _profile(b - 1, args.bals, now)[2] == 7]
        entry = await fill_messages(rows, doomed, 20, now - 370 * DAY, 30, 1)
        first = args.bals + 1
        await fill_bals(rows, first, args.mailboxes, now, profile=False)
        trash = [((first + i) * 5 + 3, first + i) for i in range(args.mailboxes)]
        await fill_messages(rows, trash, args.messages // args.mailboxes, now, 60, entry)
        await rows.bump_sequences()
        setup = round(time.perf_counter() - t, 1)
        load_before = os.getloadavg()
        out = {"database": "sqlite" if rows.sqlite else "postgresql", "bals": args.bals,
               "messages": args.messages, "mailboxes": args.mailboxes, "setup_s": setup,
               "inactivity": await timed(inactivity, op.cfg, now),
               "retention": await timed(retention, op.cfg, now),
               "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in os.getloadavg()]}
        return out
    finally:
        if op.pg_name:
            await drop_pg_database(op.pg_name)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bals", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--mailboxes", type=int, default=1_000)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
