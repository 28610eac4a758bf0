"""Properties of the directory file reader (`directory/extraction.py`, `directory/parse.py`).

Every data line of any input is accounted for, accepted or rejected with a
reason, never an exception; a file whose first line is not the header is
refused with `ExtractionError`; a well-formed line reads back as written
(values stripped, empty as None, the address lower-cased); a row's stored
text reads back as the row; search words are folded and bounded.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from directory.extraction import (
    COLUMN_COUNT,
    HEADER_START,
    MAX_FIELD,
    ExtractionError,
    parse_line,
    read_extraction,
)
from directory.parse import parse_block
from directory.rows import join_fields, row_tokens, split_fields
from directory.text import prefix_end, query_words
from policy.bal_types import BAL_TYPES

_FIELD = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                               blacklist_characters="|\x85"), max_size=12)
_ADDRESS = st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9]{1,10}\.mssante\.fr", fullmatch=True)


@st.composite
def good_rows(draw: st.DrawFn) -> list[str]:
    fields = [draw(_FIELD) for _ in range(COLUMN_COUNT)]
    fields[0] = draw(st.sampled_from(BAL_TYPES))
    fields[1] = draw(_ADDRESS)
    if draw(st.booleans()):
        fields[1] = fields[1].upper()
    return fields


_PIECES = st.sampled_from([b"|", b"PER|", b"ORG|", b"a@b.mssante.fr|", b"\xc3\xa9", b"\xff",
                           b"\r", b"\t", b" ", b"x" * (MAX_FIELD + 1), b"\xef\xbb\xbf"])
lines = st.one_of(
    good_rows().map(lambda f: "|".join(f).encode("utf-8") + b"\r\n"),
    st.lists(_PIECES | st.binary(max_size=8), max_size=40).map(b"".join),
    good_rows().map(lambda f: "|".join(f).encode("utf-8") + b"|" * 2),
)


@given(st.lists(lines, max_size=12), st.integers(min_value=2, max_value=10**6))
@example([b"PER|A@B.MSSANTE.FR" + b"|" * 30, b"", b"\n", b"\xff|x"], 2)
def test_every_line_is_accepted_or_rejected(raw: list[bytes], first: int) -> None:
    block = parse_block(raw, first)
    assert block.lines == len(raw)
    numbers = sorted([a[0] for a in block.accepted] + [r[0] for r in block.rejected])
    assert numbers == list(range(first, first + len(raw)))
    assert all(reason for _, reason in block.rejected)
    for line_no, bal_type, address, *_ in block.accepted:
        assert bal_type in BAL_TYPES and address == address.lower()
        parsed = parse_line(raw[line_no - first], line_no)
        assert parsed.row is not None and parsed.row[1] == address
    assert sum(block.counts) == len(block.packed)
    assert len(list(block.postings())) == len(block.tokens)


# Found by this test: a field of only a no-break space was kept unstripped.
_NBSP_ROW = ["PER", "0@0.mssante.fr"] + [""] * 27 + ["\xa0", ""]


@given(good_rows())
@example(_NBSP_ROW)
@example(["ORG", "a@b.mssante.fr", "\x1f"] + ["x"] * 27 + ["\u3000y"])
def test_well_formed_line_reads_back(fields: list[str]) -> None:
    parsed = parse_line("|".join(fields).encode("utf-8") + b"\n", 7)
    assert parsed.reason == "" and parsed.line_no == 7
    expected = [f.strip() or None for f in fields]
    expected[1] = fields[1].lower()
    assert parsed.row == tuple(expected)
    assert split_fields(join_fields(parsed.row)) == parsed.row
    tokens = row_tokens(parsed.row, None)
    assert "@" + fields[1].lower() in tokens


@given(st.lists(lines, max_size=4), st.binary(max_size=60) | st.sampled_from([
    "|".join(HEADER_START + ("x",) * (COLUMN_COUNT - 2)).encode(),
    b"\xef\xbb\xbf" + "|".join(HEADER_START + ("x",) * (COLUMN_COUNT - 2)).encode() + b"|\r\n",
]))
@example([], b"\xff\xfe")
def test_any_file_is_read_or_refused_as_a_whole(raw: list[bytes], header: bytes) -> None:
    try:
        parsed = list(read_extraction([header, *raw]))
    except ExtractionError:
        return
    assert [p.line_no for p in parsed] == list(range(2, 2 + len(raw)))
    assert all((p.row is None) == bool(p.reason) for p in parsed)


@given(st.text(max_size=60))
@example("\U0010ffff")
@example("İstanbul ǅ ﬁ ½")
def test_query_words_are_folded_and_bounded(query: str) -> None:
    words = query_words(query)
    assert len(words) <= 6
    for word in words:
        assert word.isascii() and word.isalnum() and word == word.lower()
        assert prefix_end(word) > word
