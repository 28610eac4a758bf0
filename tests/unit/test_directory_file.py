"""The extraction file layout, line by line (docs/rules.md "The directory file"), and the
text folding that makes search case- and accent-insensitive (R14)."""

from __future__ import annotations

import pytest

from directory.extraction import (
    COL,
    COLUMN_COUNT,
    ExtractionError,
    city_of,
    data_lines,
    parse_line,
    read_extraction,
)
from directory.rows import merge_rows, row_tokens, split_fields
from directory.text import (
    CITY,
    FIRST_NAME,
    LAST_NAME,
    POSTCODE,
    PROFESSION,
    RPPS,
    SPECIALTY,
    fold,
    name_key,
    name_words,
    words,
)
from tests.protocol.directory_http import SAMPLE

HEADER = SAMPLE.read_bytes().splitlines(keepends=True)[0]
GOOD = ("PER|Jean.Dupont@aphp.mssante.fr|8|10077777868|810077777868||||M|DUPONT|Jean|C|Civil|70|"
        "Masseur-Kinésithérapeute|||False|CABINET DUPONT||||150||AV|DES LILAS||97400 SAINT DENIS|"
        "97400|974|FRANCE")


def test_header_has_31_columns() -> None:
    assert HEADER.count(b"|") == COLUMN_COUNT - 1


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"|\n", b"|\r\n", b""])
def test_line_endings_and_trailing_separator(ending: bytes) -> None:
    line = parse_line(GOOD.encode() + ending, 2)
    assert line.reason == "" and line.row is not None
    assert len(line.row) == COLUMN_COUNT
    assert line.row[COL["address"]] == "jean.dupont@aphp.mssante.fr"
    assert line.row[COL["country"]] == "FRANCE"
    assert line.row[COL["specialty"]] is None


@pytest.mark.parametrize(("raw", "reason"), [
    (GOOD.rsplit("|", 1)[0], "expected 31 columns, found 30"),
    (GOOD + "|X", "expected 31 columns, found 32"),
    (GOOD + "||", "expected 31 columns, found 33"),
    ("XYZ" + GOOD[3:], "unknown BAL type 'XYZ'"),
    (GOOD.replace("Jean.Dupont@aphp.mssante.fr", "not-an-address"), "invalid BAL address"),
    (GOOD.replace("Jean.Dupont@aphp.mssante.fr", "a b@aphp.mssante.fr"), "invalid BAL address"),
    (GOOD.replace("DES LILAS", "X" * 401), "column 'street_name' longer than 400 characters"),
    ("   ", "empty line"),
])
def test_rejected_lines_say_why(raw: str, reason: str) -> None:
    line = parse_line(raw.encode() + b"\n", 7)
    assert (line.row, line.reason, line.line_no) == (None, reason, 7)


def test_non_utf8_line_is_rejected_not_fatal() -> None:
    line = parse_line(GOOD.replace("é", "\xe9").encode("latin-1"), 3)
    assert line.reason == "not UTF-8"


def test_padded_fields_are_stripped() -> None:
    line = parse_line(GOOD.replace("|DUPONT|", "| DUPONT |").encode(), 2)
    assert line.row is not None and line.row[COL["last_name"]] == "DUPONT"


def test_header_is_checked_before_any_line() -> None:
    with pytest.raises(ExtractionError, match="header"):
        data_lines([b"Adresse|Type\n", GOOD.encode()])
    with pytest.raises(ExtractionError, match="empty"):
        data_lines([])
    bom = b"\xef\xbb\xbf" + HEADER
    lines = list(read_extraction([bom, GOOD.encode() + b"\n"]))
    assert [ln.line_no for ln in lines] == [2]


def test_city_is_the_routing_line_without_its_postcode() -> None:
    row = parse_line(GOOD.encode(), 2).row
    assert row is not None and city_of(row) == "SAINT DENIS"


def test_merge_fills_only_empty_fields_and_stored_fields_round_trip() -> None:
    first = split_fields("PER|a@b.fr||||||||DUPONT|||||||||")
    later = split_fields("ORG|a@b.fr|8|1|||||M|MARTIN|Jean||||||||")
    merged = merge_rows(first, later)
    assert merged[0] == "PER" and merged[9] == "DUPONT" and merged[2] == "8"
    assert merged[10] == "Jean"


@pytest.mark.parametrize(("value", "folded"), [
    ("Lefèvre", "lefevre"), ("LEFÈVRE", "lefevre"), ("Œdipe Cœur", "oedipe coeur"),
    ("N'DIAYE", "n diaye"), ("Jean-Pierre", "jean pierre"), ("Zoé  MÜLLER ", "zoe muller"),
])
def test_fold(value: str, folded: str) -> None:
    assert fold(value) == folded


def test_words_drop_stopwords_and_initials_and_names_keep_joined_form() -> None:
    assert words("Cardiologie et maladies vasculaires") == ("cardiologie", "maladies",
                                                           "vasculaires")
    assert words("D. de la Tour") == ("tour",)
    assert name_words("N'DIAYE") == ("diaye", "ndiaye")
    assert name_words("Jean-Pierre") == ("jean", "pierre", "jeanpierre")


def test_name_key_ignores_case_accents_and_punctuation() -> None:
    assert name_key("LEFÈVRE", "Jean-Pierre") == name_key("lefevre", "jean pierre")
    assert name_key("", "Jean") is None


def test_row_tokens_keep_the_best_field() -> None:
    row = parse_line(GOOD.replace("|70|Masseur-Kinésithérapeute|||", "|10|Médecin|SM26|"
                                  "Médecine Générale|").encode(), 2).row
    assert row is not None
    tokens = row_tokens(row, city_of(row))
    assert tokens["10077777868"] == RPPS
    assert tokens["dupont"] == LAST_NAME and tokens["jean"] == FIRST_NAME
    assert tokens["medecin"] == PROFESSION and tokens["generale"] == SPECIALTY
    assert tokens["97400"] == POSTCODE and tokens["denis"] == CITY
    assert "cabinet" not in tokens
