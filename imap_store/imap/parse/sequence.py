"""Sequence sets: message numbers or UIDs with `*` and ranges.

Owns: the `SequenceSet` value, its parser, and bounded resolution against a
mailbox (never iterating a range such as `1:4294967295` number by number).

Invariants: every explicit number is in 1..2^32-1 (0 and 10^20 are rejected
by the parser); `*` is the largest number in use; a range `a:b` equals `b:a`
(RFC 3501 9 `seq-range`), so `n:*` always includes the last message even when
n is larger (RFC 3501 6.4.8).

Ref: RFC 3501 9 (`sequence-set`, `seq-number`, `seq-range`), RFC 9051 9.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from imap_store.imap.errors import ParseError

from .cursor import Cursor


@dataclass(frozen=True)
class SeqRange:
    """`first:last`; None stands for `*`."""

    first: int | None
    last: int | None

    def bounds(self, star: int) -> tuple[int, int]:
        """(low, high) with `*` replaced by `star`."""
        first = star if self.first is None else self.first
        last = star if self.last is None else self.last
        return (first, last) if first <= last else (last, first)  # RFC 3501 9: a:b == b:a


@dataclass(frozen=True)
class SequenceSet:
    """A parsed `sequence-set`."""

    ranges: tuple[SeqRange, ...]

    def explicit_max(self) -> int:
        """The largest number written out (not `*`), 0 if none."""
        numbers = [n for r in self.ranges for n in (r.first, r.last) if n is not None]
        return max(numbers, default=0)

    def uses_star(self) -> bool:
        """True when `*` appears."""
        return any(None in (r.first, r.last) for r in self.ranges)

    def contains(self, number: int, star: int) -> bool:
        """Membership test with `*` = `star`."""
        return any(low <= number <= high for low, high in (r.bounds(star) for r in self.ranges))

    def select_msns(self, count: int) -> list[int]:
        """Message numbers 1..count in the set, ascending, without duplicates."""
        chosen: set[int] = set()
        for rng in self.ranges:
            low, high = rng.bounds(count)
            chosen.update(range(max(low, 1), min(high, count) + 1))
        return sorted(chosen)

    def select_uids(self, uids: Sequence[int]) -> list[int]:
        """The UIDs of the ascending list `uids` that are in the set."""
        if not uids:
            return []
        chosen: set[int] = set()
        for rng in self.ranges:
            low, high = rng.bounds(uids[-1])  # RFC 3501 6.4.8: `*` is the highest UID in use
            chosen.update(uids[bisect_left(uids, low) : bisect_right(uids, high)])
        return sorted(chosen)


def _seq_number(cursor: Cursor) -> int | None:
    if cursor.maybe(b"*"):
        return None
    return cursor.nz_number()  # RFC 3501 9 (`seq-number`): nz-number / "*", never 0


def parse_sequence_set(cursor: Cursor) -> SequenceSet:
    """Read a `sequence-set` at the cursor."""
    ranges: list[SeqRange] = []
    while True:
        first = _seq_number(cursor)
        last = _seq_number(cursor) if cursor.maybe(b":") else first
        ranges.append(SeqRange(first, last))
        if not cursor.maybe(b","):
            break
    if cursor.peek_is(b"0123456789*:"):
        raise ParseError("Invalid sequence set")
    return SequenceSet(tuple(ranges))
