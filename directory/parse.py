"""Parsing an extraction file in blocks, in worker processes for big files.

Owns: `parse_block(lines, first_line_no)` (pure: raw lines -> parsed items)
and `BlockReader`, which reads the file in blocks of lines and yields the
parsed blocks in file order, parsing ahead in a process pool (`workers` > 0)
or in one worker thread (`workers` == 0, for small files and tests).

Invariants: blocks come back in file order; every data line of a block is
either accepted or rejected (with its reason); the posting lists of the
accepted lines number entries by line (so a worker needs no global state);
a block crosses processes as plain tuples, strings and arrays (cheap to
pickle). At most `2 * workers + 1` blocks are in flight, so memory stays
bounded whatever the file size. Worker processes are started with `spawn`
(no fork of a process that runs threads) and stopped when reading ends.

Ref: docs/rules.md "The directory file" (a 536,000-line daily file).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from array import array
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

from .extraction import COL, city_of, parse_fields
from .rows import Segment, row_name_key, row_tokens

_PP = COL["pp_id"]


Accepted = tuple[int, str, str, str | None, str | None, str]
"""(line_no, bal_type, address, pp_id, name_key, fields): plain tuples pickle fast."""


class ParsedBlock(NamedTuple):
    """One block: its line count, accepted and rejected lines, and its posting lists
    (entry number = line number), flattened as tokens, list lengths and one array."""

    lines: int
    accepted: list[Accepted]
    rejected: list[tuple[int, str]]
    tokens: list[str]
    counts: array[int]
    packed: array[int]

    def postings(self) -> Iterator[tuple[str, array[int]]]:
        start = 0
        for token, count in zip(self.tokens, self.counts, strict=True):
            yield token, self.packed[start:start + count]
            start += count


def parse_block(lines: list[bytes], first_line_no: int) -> ParsedBlock:
    """Parse and index one block of raw lines (runs in a worker)."""
    accepted: list[Accepted] = []
    rejected: list[tuple[int, str]] = []
    segment = Segment(0, 0)
    for line_no, raw in enumerate(lines, start=first_line_no):
        fields, reason = parse_fields(raw)
        if fields is None:
            rejected.append((line_no, reason))
            continue
        segment.add(line_no, row_tokens(fields, city_of(fields)).items())
        accepted.append((line_no, fields[0], fields[1], fields[_PP] or None,
                         row_name_key(fields), "|".join(fields)))
    packed: array[int] = array("I")
    for postings in segment.lists.values():
        packed.extend(postings)
    return ParsedBlock(len(lines), accepted, rejected, list(segment.lists),
                       array("I", map(len, segment.lists.values())), packed)


class BlockReader:
    """Reads `lines` in blocks and yields their parsed items in order."""

    def __init__(self, lines: Iterator[bytes], *, workers: int, block: int = 10_000) -> None:
        self._lines, self._workers, self._block = lines, workers, block
        self._next_line_no = 2

    def _read(self) -> tuple[list[bytes], int]:
        lines: list[bytes] = []
        for raw in self._lines:
            lines.append(raw)
            if len(lines) >= self._block:
                break
        first, self._next_line_no = self._next_line_no, self._next_line_no + len(lines)
        return lines, first

    async def blocks(self) -> AsyncIterator[ParsedBlock]:
        if self._workers <= 0:
            while (block := await asyncio.to_thread(self._read_and_parse)).lines:
                yield block
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self._workers, mp_context=context) as pool:
            async for block in self._pooled(pool):
                yield block

    def _read_and_parse(self) -> ParsedBlock:
        return parse_block(*self._read())

    async def _pooled(self, pool: ProcessPoolExecutor) -> AsyncIterator[ParsedBlock]:
        loop = asyncio.get_running_loop()
        pending: deque[asyncio.Future[ParsedBlock]] = deque()
        eof = False
        try:
            while pending or not eof:
                while not eof and len(pending) < 2 * self._workers + 1:
                    lines, first = self._read()
                    eof = not lines
                    if lines:
                        pending.append(loop.run_in_executor(pool, parse_block, lines, first))
                yield await pending.popleft()
        finally:
            for future in pending:
                future.cancel()
