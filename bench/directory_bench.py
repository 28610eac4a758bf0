"""Directory benchmark: import a 536,000-line extraction twice, then time searches.

Generates the file (bench/directory_data.py) under a temporary folder, makes an
operator directory there (`mss init`; SQLite, or `--database-url` for
PostgreSQL), imports the file the way `mss directory import` does (same
worker rule), imports it again (the daily case: a version is served, then
replaced and purged), and measures search latency on the result with a mix
of queries. Each import runs in a fresh process, whose peak resident memory
(and that of its largest parsing worker) is reported. Prints one JSON object.
Nothing is written outside the temp folder.

    .venv/bin/python bench/directory_bench.py [--rows 536000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.directory_data import generate  # noqa: E402
from directory.service import Directory  # noqa: E402
from imap_store.store.db import Database  # noqa: E402
from server.initdir import InitOptions, init_directory  # noqa: E402

QUERY_KINDS = ("last name", "last + first name", "rpps", "profession + city",
               "specialty prefix", "postcode", "address")


def _sample(path: Path, k: int, rng: random.Random) -> list[list[str]]:
    """k PER rows of the file, uniformly (reservoir sampling, constant memory)."""
    picks: list[list[str]] = []
    with path.open(encoding="utf-8") as fh:
        next(fh)
        seen = 0
        for line in fh:
            if not line.startswith("PER"):
                continue
            seen += 1
            if len(picks) < k:
                picks.append(line.rstrip("|\n").split("|"))
            elif (j := rng.randrange(seen)) < k:
                picks[j] = line.rstrip("|\n").split("|")
    return picks


def _queries(path: Path, per_kind: int, seed: int = 1) -> dict[str, list[str]]:
    """Queries drawn from the generated file itself, so every one matches something."""
    rng = random.Random(seed)
    picks = _sample(path, per_kind, rng)
    return {
        "last name": [r[9] for r in picks],
        "last + first name": [f"{r[9]} {r[10]}" for r in picks],
        "rpps": [r[3] for r in picks],
        "profession + city": [f"{r[14]} {r[27].split(' ', 1)[1]}" for r in picks],
        "specialty prefix": [rng.choice(["cardio", "pediat", "psychia", "dermato"])
                             for _ in picks],
        "postcode": [r[28] for r in picks],
        "address": [r[1] for r in picks],
    }


def _workers(size: int) -> int:
    return 0 if size < 4 * 1024 * 1024 else max(1, min(4, (os.cpu_count() or 2) - 1))


async def import_phase(url: str, base: Path, path: Path) -> dict[str, object]:
    """One import, in this (fresh) process: time, counts, peak memory."""
    db = Database(url, base)
    started = time.perf_counter()
    try:
        with path.open("rb") as fh:
            report = await Directory(db).import_lines(
                fh, str(path), workers=_workers(os.fstat(fh.fileno()).st_size),
                cleanup_grace=0)
    finally:
        await db.dispose()
    seconds = time.perf_counter() - started
    assert report.imported + report.merged + report.rejected == report.lines
    return {"seconds": round(seconds, 1), "lines": report.lines, "imported": report.imported,
            "merged": report.merged, "rejected": report.rejected, "postings": report.tokens,
            "peak_rss_mb": _peak_mb()}


def _import(url: str, base: Path, path: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--phase-import", url, str(base),
                           str(path)], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


async def _search(directory: Directory, queries: dict[str, list[str]]) -> dict[str, object]:
    timings: dict[str, list[float]] = {}
    for kind, items in queries.items():
        await directory.search(items[0])
        for query in items:
            started = time.perf_counter()
            answer = await directory.search(query, 20)
            timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
            assert answer.results, query
    every = sorted(t for ts in timings.values() for t in ts)
    return {"median_ms": round(statistics.median(every), 1),
            "p95_ms": round(every[int(len(every) * 0.95)], 1),
            "by_kind_median_ms": {k: round(statistics.median(v), 1)
                                  for k, v in timings.items()}}


def _peak_mb() -> dict[str, float]:
    main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"main_process": round(main), "largest_worker": round(workers),
            "sum": round(main + workers)}


async def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    data = work / "extraction.txt"
    generate(data, args.rows)
    size = data.stat().st_size
    url = args.database_url or "sqlite:///data/mss.sqlite3"
    opts = InitOptions(work / "op", "op-a.mssante.fr", "localhost",
                       database_url=args.database_url)
    await asyncio.to_thread(init_directory, opts)
    first = await asyncio.to_thread(_import, url, work / "op", data)
    second = await asyncio.to_thread(_import, url, work / "op", data)
    db = Database(url, work / "op")
    try:
        search = await _search(Directory(db), _queries(data, args.queries))
    finally:
        await db.dispose()
    return {"rows": args.rows, "file_mb": round(size / 1e6, 1),
            "database": "postgresql" if args.database_url else "sqlite",
            "nproc": os.cpu_count(), "first_import": first, "reimport": second,
            "search": search}


def main() -> None:
    if sys.argv[1:2] == ["--phase-import"]:
        url, base, path = sys.argv[2:5]
        print(json.dumps(asyncio.run(import_phase(url, Path(base), Path(path)))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=536_000)
    p.add_argument("--queries", type=int, default=40, help="queries per kind")
    p.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mss-dirbench-") as tmp:
        print(json.dumps(asyncio.run(run(args, Path(tmp))), indent=1))


if __name__ == "__main__":
    main()
