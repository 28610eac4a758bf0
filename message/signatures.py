"""puremagic's signature matching, with its header table indexed by offset and first octet.

Owns: `magic_matches(data)`, which returns what `puremagic.magic_string(data)`
returns (the same matches, confidences and order) or raises what it raises,
without comparing every one of the table's 1,400-odd header signatures with
the data: the header signatures are grouped by (offset, first octet) once,
so only those whose first octet is at its offset are compared. The footer
and multi-part signatures are matched as puremagic matches them; its own
`_confidence` ranks the matches. A header table the index cannot hold (a
negative offset, an empty signature) makes `magic_matches` call
`puremagic.magic_string` itself.

Invariants: the same answer as `puremagic.magic_string` for any input
(checked against it by `tests/unit/test_signatures.py` on every signature of
the table and on sample files); pure function of the octets.

Ref: puremagic's signature table (`magic_data.json`, kept with the library).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import puremagic
from puremagic import main as _pm

_Row = Any  # puremagic.main.PureMagic (a named tuple)


def _index() -> tuple[dict[tuple[int, int], list[tuple[int, _Row]]], list[int]] | None:
    rows: dict[tuple[int, int], list[tuple[int, _Row]]] = defaultdict(list)
    for n, row in enumerate(_pm.magic_header_array):
        if row.offset < 0 or not row.byte_match:
            return None
        rows[(row.offset, row.byte_match[0])].append((n, row))
    return dict(rows), sorted({offset for offset, _ in rows})


_INDEX = _index()


def _header_matches(header: bytes) -> list[_Row]:
    assert _INDEX is not None
    rows, offsets = _INDEX
    size = len(header)
    found: list[tuple[int, _Row]] = []
    for offset in offsets:
        if offset >= size:
            break
        for n, row in rows.get((offset, header[offset]), ()):
            end = offset + len(row.byte_match)
            if end <= size and header[offset:end] == row.byte_match:
                found.append((n, row))
    found.sort(key=lambda item: item[0])  # the table's order, as puremagic scans it
    return [row for _, row in found]


def _tail(footer: bytes, start: int, end: int) -> bytes:
    return footer[start:end] if end != 0 else footer[start:]


def _footer_matches(footer: bytes) -> list[_Row]:
    return [row for row in _pm.magic_footer_array
            if _tail(footer, row.offset, row.offset + len(row.byte_match)) == row.byte_match]


def _multi_part(matches: list[_Row], header: bytes, footer: bytes) -> set[_Row]:
    """The multi-part signatures completed by the data (as puremagic builds them)."""
    found: set[_Row] = set()
    for matched in matches:
        for row in _pm.multi_part_dict.get(matched.byte_match, ()):
            end = row.offset + len(row.byte_match)
            if row.offset < 0:
                if _tail(footer, row.offset, end) == row.byte_match:
                    found.add(_pm.PureMagic(byte_match=matched.byte_match + row.byte_match,
                                            offset=row.offset, extension=row.extension,
                                            mime_type=row.mime_type, name=row.name))
            elif end <= len(header) and header[row.offset:end] == row.byte_match:
                found.add(_pm.PureMagic(byte_match=header[matched.offset:end],
                                        offset=row.offset, extension=row.extension,
                                        mime_type=row.mime_type, name=row.name))
    return found


def magic_matches(data: bytes) -> list[Any]:
    """`puremagic.magic_string(data)`, faster (see the module docstring)."""
    if _INDEX is None:
        return list(puremagic.magic_string(data))
    if not data:
        raise ValueError("Input was empty")
    header, footer = data[:_pm.max_head], data[-_pm.max_foot:]
    matches = _header_matches(header) + _footer_matches(footer)
    matches.extend(list(_multi_part(matches, header, footer)))
    info: list[Any] = _pm._confidence(matches, None)  # noqa: SLF001
    info.sort(key=lambda x: x.confidence, reverse=True)
    return info
