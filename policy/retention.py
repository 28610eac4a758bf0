"""Retention periods per folder: how long a message stays before the purge (R25).

Owns: `RetentionRules` (the `[retention]` table) and `period_days`, which
resolves the period of one folder of one BAL, most specific first:
the BAL's own setting (`mss bal set ADDRESS --retention FOLDER=DAYS`), then
its type's (`[retention] by_type`), then `[retention] folders`, then
`[retention] default_days`. 0 means manual: nothing is purged.

Folder names are compared as stored (IMAP names are case-sensitive), except
INBOX, which is case-insensitive (RFC 3501 5.1).

Invariants: pure; a period is a whole number of days, never negative.

Ref: R25 (not a storage space: retention per folder, purge job); RFC 3501 5.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_DAYS = 36_500


def folder_key(name: str) -> str:
    """A folder name as retention settings match it (INBOX in any case is INBOX)."""
    return "INBOX" if name.upper() == "INBOX" else name


@dataclass(frozen=True)
class RetentionRules:
    folders: Mapping[str, int] = field(default_factory=lambda: {"Trash": 30, "Junk": 30})
    default_days: int = 0
    by_type: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def problem(self) -> str | None:
        """What in these settings is out of range, naming the key, or None."""
        tables = {"folders": self.folders, **{f"by_type.{t}": v
                                              for t, v in self.by_type.items()}}
        for key, table in tables.items():
            if not isinstance(table, Mapping):
                return f"{key}: expected a table of FOLDER = DAYS"
            for name, days in table.items():
                if isinstance(days, bool) or not isinstance(days, int):
                    return f"{key}.{name}: expected a number of days"
                if not 0 <= days <= MAX_DAYS:
                    return f"{key}.{name}: expected 0 to {MAX_DAYS} days"
        if not 0 <= self.default_days <= MAX_DAYS:
            return f"default_days: expected 0 to {MAX_DAYS} days"
        return None


def _lookup(table: Mapping[str, int], folder: str) -> int | None:
    for name, days in table.items():
        if folder_key(name) == folder:
            return days
    return None


def period_days(rules: RetentionRules, bal_type: str, folder: str,
                own: Mapping[str, int]) -> int:
    """The retention period of `folder` in a BAL of `bal_type` with settings `own`."""
    folder = folder_key(folder)
    for table in (own, rules.by_type.get(bal_type, {}), rules.folders):
        days = _lookup(table, folder)
        if days is not None:
            return days
    return rules.default_days


def parse_setting(text: str) -> tuple[str, int]:
    """`FOLDER=DAYS` as given to `mss bal set --retention`; ValueError when malformed."""
    name, sep, days = text.rpartition("=")
    if not sep or not name or not days.isdigit() or int(days) > MAX_DAYS:
        raise ValueError(f"expected FOLDER=DAYS (0 to {MAX_DAYS}), got {text!r}")
    return folder_key(name), int(days)
