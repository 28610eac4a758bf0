"""The Annuaire Santé "Extraction des BAL MSSanté" file: lines to directory rows.

Owns: `read_extraction(stream) -> Iterator[ParsedLine]`, the column layout
(`COLUMNS`, in file order), `ExtractionError` for a file that is not this
layout at all, and the per-line rejection reasons.

Invariants:
- UTF-8, `|`-separated, one header line, 31 columns, optionally one trailing
  `|` (an empty 32nd column); CRLF or LF line ends; a UTF-8 BOM is ignored.
- Every data line yields exactly one `ParsedLine`: a row, or a rejection with
  a reason and the line number, so a caller can account for every line.
- A row is a sequence of 31 stripped values in `COLUMNS` order; an empty
  field is None (`parse_line`) or "" (`parse_fields`, the fast path).
- The header must name "Type de BAL" and "Adresse BAL" first; otherwise the
  whole file is refused before any row is read.

Ref: docs/rules.md "The directory file" (layout, duplicates, PER/ORG), R12 (BAL types).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from policy.bal_types import BAL_TYPES

COLUMNS = (
    "bal_type", "address", "pp_id_type", "pp_id", "pp_national_id", "structure_id_type",
    "structure_id", "service", "civility", "last_name", "first_name", "profession_category",
    "profession_category_label", "profession_code", "profession", "specialty_code",
    "specialty", "dematerialised", "structure_name", "structure_brand", "addr_complement",
    "addr_distribution", "street_number", "street_number_ext", "street_type", "street_name",
    "locality", "routing", "postcode", "departement", "country",
)
COLUMN_COUNT = len(COLUMNS)
MAX_FIELD = 400
MAX_ADDRESS = 320
HEADER_START = ("Type de BAL", "Adresse BAL")
ADDRESS_RE = re.compile(r"^[^\s@|]{1,64}@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*"
                        r"[a-z0-9])?)+$")
Row = Sequence[str | None]
COL = {name: i for i, name in enumerate(COLUMNS)}
_OTHER_SPACE = re.compile(r"[^\S ]")  # what `str.strip` removes, except the plain space


class ExtractionError(ValueError):
    """The file is not an "Extraction des BAL MSSanté" file (bad header, empty)."""


class ParsedLine(NamedTuple):
    """One data line: `row` when accepted, else `reason` says why it was rejected."""

    line_no: int
    size: int
    row: Row | None = None
    reason: str = ""


def split_line(raw: bytes) -> list[str]:
    """Decode one line and split it into fields, dropping one trailing empty field."""
    text = raw.rstrip(b"\r\n").decode("utf-8")
    fields = text.split("|")
    if len(fields) == COLUMN_COUNT + 1 and fields[-1] == "":
        fields.pop()
    return fields


def check_header(raw: bytes) -> None:
    """Refuse a file whose first line is not the extraction's header."""
    try:
        fields = split_line(raw.removeprefix(b"\xef\xbb\xbf"))
    except UnicodeDecodeError:
        raise ExtractionError("header line is not UTF-8") from None
    if len(fields) != COLUMN_COUNT or tuple(f.strip() for f in fields[:2]) != HEADER_START:
        raise ExtractionError(f"not an 'Extraction des BAL MSSanté' file: the header has "
                              f"{len(fields)} columns starting {fields[:2]!r}, expected "
                              f"{COLUMN_COUNT} starting {list(HEADER_START)!r}")


def _padded(text: str) -> bool:
    """Whether some field may start or end with white space (`str.strip` would change it):
    cheap tests for spaces, and any other white space (tab, NBSP, ...) anywhere."""
    return (text[:1] == " " or text[-1:] == " " or "| " in text or " |" in text
            or _OTHER_SPACE.search(text) is not None)


def _too_long(fields: list[str]) -> str:
    for name, value in zip(COLUMNS, fields, strict=True):
        if len(value) > MAX_FIELD:
            return f"column {name!r} longer than {MAX_FIELD} characters"
    return ""


def _reject_reason(fields: list[str]) -> str:
    if len(fields) != COLUMN_COUNT:
        return f"expected {COLUMN_COUNT} columns, found {len(fields)}"
    if fields[0] not in BAL_TYPES:
        return f"unknown BAL type {fields[0][:10]!r}"
    if max(map(len, fields)) > MAX_FIELD:
        return _too_long(fields)
    if len(fields[1]) > MAX_ADDRESS or not ADDRESS_RE.match(fields[1]):
        return "invalid BAL address"
    return ""


def parse_fields(raw: bytes) -> tuple[list[str] | None, str]:
    """The 31 stripped fields of a data line ("" when empty), or None and the reason."""
    try:
        text = raw.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if not text.strip():
        return None, "empty line"
    fields = text.split("|")
    if len(fields) == COLUMN_COUNT + 1 and not fields[-1]:
        fields.pop()
    if _padded(text):
        fields = [f.strip() for f in fields]
    if len(fields) > 1:
        fields[1] = fields[1].lower()
    reason = _reject_reason(fields)
    return (None, reason) if reason else (fields, "")


def parse_line(raw: bytes, line_no: int) -> ParsedLine:
    """Turn one data line into a row (empty fields as None) or a rejection."""
    fields, reason = parse_fields(raw)
    if fields is None:
        return ParsedLine(line_no, len(raw), None, reason)
    return ParsedLine(line_no, len(raw), tuple([f or None for f in fields]))


def data_lines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Check the header now (ExtractionError); the raw data lines that follow it."""
    it = iter(lines)
    header = next(it, None)
    if header is None:
        raise ExtractionError("the file is empty")
    check_header(header)
    return it


def read_extraction(lines: Iterable[bytes]) -> Iterator[ParsedLine]:
    """Check the header now (ExtractionError), then parse lines lazily (numbered from 2)."""
    return (parse_line(raw, n) for n, raw in enumerate(data_lines(lines), start=2))


def city_of(row: Row) -> str | None:
    """The city: the routing line (L6) without its leading postcode."""
    routing, postcode = row[COL["routing"]], row[COL["postcode"]]
    if not routing:
        return None
    if postcode and routing.startswith(postcode):
        return routing[len(postcode):].strip() or None
    return routing
