"""Fail when a product module's line coverage is under the floor.

Reads the JSON report `coverage json` wrote (first argument) and checks every
measured file against the minimum (second argument, a percentage). Alembic
migration versions are exempt: their downgrade functions are run by no test.
"""

from __future__ import annotations

import json
import sys

EXEMPT_PREFIX = "migrations/versions/"


def main(report_path: str, floor: float) -> int:
    with open(report_path, encoding="utf-8") as f:
        files = json.load(f)["files"]
    under = sorted(
        (name, data["summary"]["percent_covered"])
        for name, data in files.items()
        if not name.startswith(EXEMPT_PREFIX) and data["summary"]["percent_covered"] < floor
    )
    for name, pct in under:
        print(f"coverage: {name} at {pct:.1f} %, under the {floor:g} % floor")
    if not under:
        print(f"coverage: every product module at or above {floor:g} %")
    return 1 if under else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
