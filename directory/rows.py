"""Directory rows: what is stored and indexed for one BAL of the directory.

Owns: the stored column order (`ENTRY_COLUMNS`), `row_tokens` (the search
words of a row and the field each comes from), `merge_rows` (how a duplicate
address line is folded into the first one) and `Segment`, the posting lists
of a block of entries, with `pack`/`unpack` for their stored form.

Invariants:
- One token per (entry, word): a word found in several fields keeps the best
  field (lowest code, see `text.WEIGHTS`).
- Merging keeps every value of the first line and fills only its empty
  fields from later lines with the same address (docs/rules.md "The
  directory file": the address is the only key).
- A segment's posting lists come out sorted by token, entries increasing in
  each, so writing segments one after the other only ever appends to the
  posting table's key; 4 bytes per (entry, word) in memory and on disk.

Ref: docs/rules.md "The directory file" (columns, duplicates), R14 (searchable fields).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from . import text as dt
from .extraction import COL, Row, city_of

ENTRY_COLUMNS = ("version_id", "entry_no", "bal_type", "address", "pp_id", "name_key", "fields",
                 "bal_id")
POSTING_COLUMNS = ("version_id", "segment", "token", "postings")
FIELD_BITS = 4
FIELD_MASK = (1 << FIELD_BITS) - 1
MAX_ENTRY = (1 << (32 - FIELD_BITS)) - 1
Tokens = tuple[tuple[str, int], ...]
_C = COL
_PP, _LAST, _FIRST = COL["pp_id"], COL["last_name"], COL["first_name"]
_PROF, _SPEC, _POST = COL["profession"], COL["specialty"], COL["postcode"]


def _best(*parts: tuple[tuple[str, ...], int]) -> Tokens:
    found: dict[str, int] = {}
    for values, code in parts:
        for word in values:
            found.setdefault(word, code)
    return tuple(found.items())


@lru_cache(maxsize=16_384)
def _organisation(name: str | None, brand: str | None, service: str | None) -> Tokens:
    return _best(*((dt.words(v), dt.ORGANISATION) for v in (name, brand, service) if v))


@lru_cache(maxsize=4096)
def _job(profession: str | None, specialty: str | None) -> Tokens:
    return _best((dt.words(profession or ""), dt.PROFESSION),
                 (dt.words(specialty or ""), dt.SPECIALTY))


@lru_cache(maxsize=16_384)
def _place(postcode: str | None, city: str | None) -> Tokens:
    return _best((dt.words(postcode or ""), dt.POSTCODE), (dt.words(city or ""), dt.CITY))


def _rpps_token(pp_id: str) -> str:
    return pp_id.lower() if pp_id.isascii() and pp_id.isalnum() else "".join(
        dt.fold(pp_id).split())


def row_tokens(row: Row, city: str | None) -> dict[str, int]:
    """token -> field code for one row in `COLUMNS` order (best field kept)."""
    found: dict[str, int] = {}
    pp_id, last, first = row[_PP], row[_LAST], row[_FIRST]
    found[dt.ADDRESS_MARK + (row[1] or "")] = dt.ADDRESS
    if pp_id:
        found[_rpps_token(pp_id)] = dt.RPPS
    if last:
        for word in dt.name_words(last):
            found.setdefault(word, dt.LAST_NAME)
    if first:
        for word in dt.name_words(first):
            found.setdefault(word, dt.FIRST_NAME)
    parts = [_organisation(row[_C["structure_name"]], row[_C["structure_brand"]],
                           row[_C["service"]])] if row[0] != "PER" else []
    parts += [_job(row[_PROF], row[_SPEC]), _place(row[_POST], city)]
    for part in parts:
        for word, code in part:
            found.setdefault(word, code)
    return found


def join_fields(row: Row) -> str:
    """The stored `fields` text: the 31 values joined by `|` (None as empty)."""
    return "|".join([v.replace("|", "/") if v else "" for v in row])


def split_fields(text: str) -> tuple[str | None, ...]:
    """The row back from its stored `fields` text."""
    return tuple([v or None for v in text.split("|")])


def row_name_key(row: Row) -> str | None:
    return dt.name_key(row[_C["last_name"]] or "", row[_C["first_name"]] or "")


def entry_record(version_id: int, entry_no: int, row: Row,
                 bal_id: int | None = None) -> tuple[Any, ...]:
    """The stored tuple (`ENTRY_COLUMNS` order) for one row."""
    return (version_id, entry_no, row[0], row[1], row[_C["pp_id"]], row_name_key(row),
            join_fields(row), bal_id)


def indexed(version_id: int, entry_no: int, row: Row,
            bal_id: int | None = None) -> tuple[tuple[Any, ...], dict[str, int]]:
    """The stored tuple and the tokens of one row."""
    return entry_record(version_id, entry_no, row, bal_id), row_tokens(row, city_of(row))


def merge_rows(first: Row, later: Row) -> tuple[str | None, ...]:
    """`first`, with its empty fields filled from `later`."""
    return tuple(a or b or None for a, b in zip(first, later, strict=True))


class Segment:
    """The posting lists of one block of entries, written in token order."""

    def __init__(self, version_id: int, number: int) -> None:
        self.version_id, self.number = version_id, number
        self.lists: dict[str, array[int]] = {}
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, entry_no: int, tokens: Iterable[tuple[str, int]]) -> None:
        """Tokens of one entry; entries must come in increasing `entry_no` order."""
        lists = self.lists
        for token, code in tokens:
            packed = lists.get(token)
            if packed is None:
                packed = lists[token] = array("I")
            packed.append(entry_no << FIELD_BITS | code)
            self.count += 1

    def extend(self, lists: Iterable[tuple[str, array[int]]]) -> None:
        """Append the posting lists of a later block of entries."""
        mine = self.lists
        for token, packed in lists:
            current = mine.get(token)
            if current is None:
                mine[token] = packed
            else:
                current.extend(packed)
            self.count += len(packed)

    def rows(self) -> list[tuple[int, int, str, bytes]]:
        """`POSTING_COLUMNS` tuples in key order."""
        v, n = self.version_id, self.number
        return [(v, n, token, pack(self.lists[token])) for token in sorted(self.lists)]


def pack(postings: array[int]) -> bytes:
    """Little-endian uint32 bytes of a posting list, whatever the machine."""
    if sys.byteorder != "little":
        postings = array("I", postings)
        postings.byteswap()
    return postings.tobytes()


def unpack(blob: bytes) -> array[int]:
    """The posting list stored by `pack`."""
    postings = array("I", blob)
    if sys.byteorder != "little":
        postings.byteswap()
    return postings
