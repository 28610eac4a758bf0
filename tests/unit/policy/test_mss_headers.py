"""X-MSS-* headers: rule mss_headers (R19, WARN by default) and extraction (T24-T26)."""

from __future__ import annotations

import pytest

from policy import replies
from policy.context import Stage
from policy.engine import Mode, PolicyEngine
from policy.mss_headers import check, extract_mss_headers, mss_header_problems, parse_codecda
from policy.rules import DEFAULT_RULES
from tests.unit.policy.factories import DR_X, answer, data

BASE = (("From", DR_X), ("To", "dr.y@op-b.mssante.fr"))


@pytest.mark.parametrize(
    ("extra", "problems"),
    [
        ((), ()),
        ((("X-MSS-NIL", "DEV935997"),), ()),
        ((("X-MSS-NIL", "DEV935997"), ("X-MSS-CODECDA", "34112-3"), ("X-MSS-INS", "O")), ()),
        ((("x-mss-ins", " N "),), ()),
        ((("X-MSS-MES", "FIN"),), ()),
        ((("X-MSS-CODECDA", "34112-3,PRESC-BIO, 15508-5"),), ()),
        ((("X-MSS-CODECDA", "a.b_c+d"),), ()),
        ((("X-MSS-INS", "Y"),), ("X-MSS-INS has invalid value 'Y'",)),
        ((("X-MSS-INS", "o"),), ("X-MSS-INS has invalid value 'o'",)),
        ((("X-MSS-MES", "fin"),), ("X-MSS-MES has invalid value 'fin'",)),
        ((("X-MSS-MES", ""),), ("X-MSS-MES has invalid value ''",)),
        ((("X-MSS-CODECDA", "34112-3,,X"),), ("X-MSS-CODECDA has invalid value '34112-3,,X'",)),
        ((("X-MSS-CODECDA", "34112 3"),), ("X-MSS-CODECDA has invalid value '34112 3'",)),
        ((("X-MSS-CODECDA", ""),), ("X-MSS-CODECDA has invalid value ''",)),
        ((("X-MSS-NIL", ""),), ("X-MSS-NIL has invalid value ''",)),
        ((("X-MSS-NIL", "DEV 935997"),), ("X-MSS-NIL has invalid value 'DEV 935997'",)),
        ((("X-MSS-NIL", "A"), ("X-MSS-NIL", "A")), ("X-MSS-NIL appears 2 times",)),
        ((("X-MSS-INS", "O"), ("x-mss-INS", "N")), ("X-MSS-INS appears 2 times",)),
        ((("X-MSS-OTHER", "whatever"),), ()),
    ],
)
def test_problems(extra: tuple[tuple[str, str], ...], problems: tuple[str, ...]) -> None:
    headers = BASE + extra
    assert mss_header_problems(headers) == problems
    verdict = check(data(headers=headers))
    if problems:
        assert verdict is not None and verdict.reply is replies.INVALID_MSS_HEADER
        assert verdict.reason == "; ".join(problems)
    else:
        assert verdict is None


def test_extraction_keeps_first_value_under_canonical_names() -> None:
    headers = BASE + (
        ("x-mss-nil", " DEV935997 "),
        ("X-MSS-CODECDA", "34112-3"),
        ("X-MSS-INS", "O"),
        ("X-MSS-NIL", "second"),
    )
    assert extract_mss_headers(headers) == {
        "X-MSS-NIL": "DEV935997",
        "X-MSS-CODECDA": "34112-3",
        "X-MSS-INS": "O",
    }
    assert extract_mss_headers(BASE) == {}


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("34112-3", ("34112-3",)),
        ("34112-3,PRESC-BIO , 15508-5", ("34112-3", "PRESC-BIO", "15508-5")),
    ],
)
def test_parse_codecda(value: str, codes: tuple[str, ...]) -> None:
    assert parse_codecda(value) == codes


def test_parse_codecda_rejects_empty_items() -> None:
    with pytest.raises(ValueError):
        parse_codecda("a,")


def test_default_mode_is_warn_so_messages_are_never_refused_for_them() -> None:
    bad = data(headers=BASE + (("X-MSS-INS", "maybe"),))
    outcome = PolicyEngine(DEFAULT_RULES).evaluate(Stage.DATA, bad)
    assert outcome.verdict is None
    assert [w.rule for w in outcome.warnings] == ["mss_headers"]
    enforced = PolicyEngine(DEFAULT_RULES, {"mss_headers": Mode.ENFORCE}).evaluate(Stage.DATA, bad)
    assert answer(enforced) is replies.INVALID_MSS_HEADER


@pytest.mark.parametrize(
    ("case", "extra"),
    [
        ("T24", (("X-MSS-NIL", "DEV935997"), ("X-MSS-CODECDA", "34112-3"), ("X-MSS-INS", "O"))),
        ("T25", (("X-MSS-MES", "FIN"),)),
        ("T26", ()),
    ],
)
def test_acceptance_cases_are_accepted_without_warnings(
    case: str, extra: tuple[tuple[str, str], ...]
) -> None:
    outcome = PolicyEngine(DEFAULT_RULES).evaluate(Stage.DATA, data(headers=BASE + extra))
    assert outcome.verdict is None and outcome.warnings == (), case
