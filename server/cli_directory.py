"""`mss directory import FILE` and `mss directory search QUERY`.

`import` loads an Annuaire Santé "Extraction des BAL MSSanté" file as a new
directory version beside the served one (a running server keeps answering),
then switches; it shows a progress bar (tqdm) on stderr when stderr is a
terminal and nothing while running otherwise, and reports imported, merged
and rejected lines with the reasons. Exit 0 once switched (even with
rejected lines), 1 when the file is refused (not this layout, unreadable, no
valid line).

`search` prints the matching BALs, homonyms marked; exit 0 with results, 1
with none (like grep), 2 for a query with no usable word. `--json`: one JSON
object per result line.

Ref: R14; docs/rules.md "The directory file"; docs/architecture.md "Contracts" (verbs,
exit codes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from tqdm import tqdm

from directory.service import (
    Directory,
    DirectoryImportError,
    DirectoryResult,
    ExtractionError,
    ImportReport,
    QueryError,
)

from .cli_output import fail
from .config import Config
from .storage import open_store

PARALLEL_FROM = 4 * 1024 * 1024
BAR_FORMAT = "importing [{bar:30}] {percentage:3.0f}% {n_fmt}/{total_fmt}B {elapsed}"


def add_directory_parsers(sub: Any) -> None:
    d = sub.add_parser("directory", help="the Annuaire Santé directory").add_subparsers(
        dest="directory_verb", required=True, metavar="ACTION")
    imp = d.add_parser("import", help="import an 'Extraction des BAL MSSanté' file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--workers", type=int, help="parsing processes (default: by file size "
                     "and CPUs; 0 parses in the main process)")
    imp.set_defaults(func=_import)
    search = d.add_parser("search", help="search the directory (name, RPPS, profession, "
                          "speciality, postcode, city, or an address)")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(func=_search)


class ProgressBar:
    """The import's progress, through tqdm: a one-line bar on a terminal, silent
    elsewhere (`disable=None` turns it off when the stream is not a TTY). The
    screen size is fixed, not read from the terminal: one that reports none (a
    bare pty) would otherwise hide the bar."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._bar = tqdm(total=max(total, 1), file=stream, disable=None, unit="B",
                         unit_scale=True, unit_divisor=1000, mininterval=0.2,
                         ascii=" #", bar_format=BAR_FORMAT, ncols=80, nrows=24)

    def __call__(self, phase: str, done: int) -> None:
        self._bar.update(min(done, self._bar.total) - self._bar.n)

    def finish(self) -> None:
        self._bar.close()


def _workers(args: argparse.Namespace, size: int) -> int:
    if args.workers is not None:
        return max(0, int(args.workers))
    if size < PARALLEL_FROM:
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _report_row(path: Path, report: ImportReport, seconds: float) -> dict[str, Any]:
    return {"file": str(path), "version": report.version_id,
            "previous_version": report.previous_version, "lines": report.lines,
            "imported": report.imported, "merged": report.merged, "rejected": report.rejected,
            "reasons": dict(report.reasons.most_common()),
            "examples": [{"line": n, "reason": r} for n, r in report.examples],
            "sha256": report.sha256, "shared_names": report.shared_names,
            "seconds": round(seconds, 1)}


def _print_report(row: dict[str, Any]) -> None:
    print(f"{row['file']}: {row['lines']} lines: {row['imported']} imported, "
          f"{row['merged']} merged (duplicate addresses), {row['rejected']} rejected")
    replaced = f" (replaces version {row['previous_version']})" if row["previous_version"] else ""
    print(f"directory version {row['version']} is now served{replaced}; "
          f"{row['shared_names']} names shared by several persons; {row['seconds']} s")
    for reason, count in row["reasons"].items():
        print(f"  rejected {count:>7}  {reason}")
    if row["examples"]:
        shown = ", ".join(f"{e['line']}" for e in row["examples"])
        print(f"  first rejected lines: {shown}")


def _open(path: Path) -> tuple[BinaryIO, int, str]:
    handle = path.open("rb")
    return handle, os.fstat(handle.fileno()).st_size, str(path.resolve())


async def _import(args: argparse.Namespace, cfg: Config) -> int:
    path: Path = args.file
    try:
        handle, size, source = _open(path)
    except OSError as exc:
        return fail(f"{path}: {exc.strerror}", 1)
    bar = ProgressBar(size, sys.stderr)
    db, _ = open_store(cfg)
    started = time.monotonic()
    try:
        with handle:
            report = await Directory(db).import_lines(
                handle, source, workers=_workers(args, size), progress=bar)
    except (ExtractionError, DirectoryImportError) as exc:
        bar.finish()
        return fail(f"{path}: {exc}", 1)
    finally:
        await db.dispose()
    bar.finish()
    row = _report_row(path, report, time.monotonic() - started)
    if args.json:
        print(json.dumps(row, ensure_ascii=False))
    else:
        _print_report(row)
    return 0


def _describe(r: DirectoryResult) -> str:
    name = " ".join(p for p in (r.civility, r.last_name, r.first_name) if p) or r.structure or "-"
    job = " - ".join(p for p in (r.profession, r.specialty) if p)
    place = ", ".join(p for p in (r.structure, " ".join(p for p in (r.postcode, r.city) if p))
                      if p)
    warn = f"  HOMONYM: {r.namesakes} persons share this name" if r.homonym else ""
    lines = [f"{r.address}  {r.bal_type}  {name}  RPPS {r.rpps or '-'}  [{r.source}]{warn}"]
    lines.append(f"    {job or '-'}; {place or '-'}")
    return "\n".join(lines)


async def _search(args: argparse.Namespace, cfg: Config) -> int:
    db, _ = open_store(cfg)
    try:
        answer = await Directory(db).search(args.query, args.limit)
    except QueryError as exc:
        return fail(f"query: {exc}", 2)
    finally:
        await db.dispose()
    for result in answer.results:
        if args.json:
            print(json.dumps(result.as_dict(), ensure_ascii=False))
        else:
            print(_describe(result))
    if not answer.results and not args.json:
        print(f"no BAL matches {args.query!r}", file=sys.stderr)
    return 0 if answer.results else 1
