"""Output helpers for the `mss` verbs: people-readable tables or JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any


def fail(message: str, code: int) -> int:
    print(f"mss: error: {message}", file=sys.stderr)
    return code


def emit(rows: Iterable[Mapping[str, Any]], as_json: bool, columns: Iterable[str]) -> None:
    cols = list(columns)
    for row in rows:
        if as_json:
            print(json.dumps(dict(row), default=str, ensure_ascii=False))
        else:
            print("  ".join(f"{row.get(c, '') if row.get(c) is not None else '-'}" for c in cols))


def emit_record(row: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(dict(row), default=str, ensure_ascii=False))
        return
    width = max(len(k) for k in row)
    for k, v in row.items():
        print(f"{k.ljust(width)}  {'-' if v is None else v}")
