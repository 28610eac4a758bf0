"""INS matricule validation (docs/rules.md "The INS key") and the patient_address rule (R15)."""

from __future__ import annotations

import pytest

from policy import replies
from policy.context import Stage
from policy.engine import PolicyEngine
from policy.patient_address import (
    PATIENT_DOMAIN,
    check,
    ins_key,
    is_patient_address,
    is_valid_ins,
)
from policy.rules import DEFAULT_RULES
from tests.unit.policy.factories import answer, rcpt

WORKED_EXAMPLES = ["185057512345673", "290032A00401234", "172112B03310165"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("1850575123456", 73),
        ("290032A004012", 34),
        ("290032a004012", 34),
        ("172112B033101", 65),
        ("172112b033101", 65),
        ("2790351215189", 89),
    ],
)
def test_ins_key_worked_examples(body: str, key: int) -> None:
    assert ins_key(body) == key


@pytest.mark.parametrize(
    "body",
    ["", "185057512345", "18505751234567", "1850575A23456", "12345A1234567", "1850575123456\n"],
)
def test_ins_key_rejects_malformed_bodies(body: str) -> None:
    with pytest.raises(ValueError):
        ins_key(body)


@pytest.mark.parametrize(
    ("ins", "valid"),
    [
        ("185057512345673", True),
        ("290032A00401234", True),
        ("290032a00401234", True),
        ("172112B03310165", True),
        ("172112b03310165", True),
        ("279035121518989", True),
        ("279035121518988", False),
        ("185057512345674", False),
        ("185057512345673 ", False),
        ("185057512345673\n", False),
        (" 185057512345673", False),
        ("18505751234567", False),
        ("1850575123456733", False),
        ("2900322A0401234", False),
        ("290032C00401234", False),
        ("29003AA00401234", False),
        ("１85057512345673", False),
        ("", False),
        # Unusual components are not refused: only length, charset and key count.
        ("385057512345670", True),
        ("185997512345625", True),
    ],
)
def test_is_valid_ins(ins: str, valid: bool) -> None:
    assert is_valid_ins(ins) is valid


def test_unusual_component_examples_really_have_correct_keys() -> None:
    assert ins_key("3850575123456") == 70  # sex digit 3
    assert ins_key("1859975123456") == 25  # month 99


def _corruptions(ins: str) -> list[str]:
    return [
        ins[:pos] + digit + ins[pos + 1 :]
        for pos in range(len(ins))
        for digit in "0123456789"
        if digit != ins[pos]
    ]


@pytest.mark.parametrize("example", WORKED_EXAMPLES + ["279035121518989"])
def test_every_one_digit_corruption_is_rejected(example: str) -> None:
    corrupted = _corruptions(example)
    assert len(corrupted) >= 9 * 13
    accepted = [ins for ins in corrupted if is_valid_ins(ins)]
    assert accepted == []


# Bodies chosen so that a bare "(N + key) mod 97 == 0" test would accept 00/98/99.
@pytest.mark.parametrize(
    ("body", "good_key", "bad_key"),
    [
        ("1850575123432", "97", "00"),
        ("1850575123528", "01", "98"),
        ("1850575123527", "02", "99"),
    ],
)
def test_keys_00_98_99_are_never_valid(body: str, good_key: str, bad_key: str) -> None:
    n = int(body)
    assert (n + int(bad_key)) % 97 == 0  # the trap is real
    assert ins_key(body) == int(good_key)
    assert is_valid_ins(body + good_key)
    assert not is_valid_ins(body + bad_key)


@pytest.mark.parametrize(
    ("address", "patient"),
    [
        ("185057512345673@patient.mssante.fr", True),
        ("185057512345673@PATIENT.MSSANTE.FR", True),
        ("anything@patient.mssante.fr", True),
        ("185057512345673@patient.mssante.fr.evil.com", False),
        ("185057512345673@x.patient.mssante.fr", False),
        ("dr.x@op-a.mssante.fr", False),
        ("patient.mssante.fr", False),
    ],
)
def test_is_patient_address(address: str, patient: bool) -> None:
    assert is_patient_address(address) is patient
    assert PATIENT_DOMAIN == "patient.mssante.fr"


@pytest.mark.parametrize(
    ("recipient", "refused"),
    [
        ("185057512345673@patient.mssante.fr", False),
        ("290032a00401234@patient.mssante.fr", False),
        ("172112B03310165@Patient.MSSante.fr", False),
        ("185057512345674@patient.mssante.fr", True),
        ("jean.dupont@patient.mssante.fr", True),
        ("@patient.mssante.fr", True),
        ("dr.y@op-b.mssante.fr", False),
        ("185057512345674@op-b.mssante.fr", False),
    ],
)
def test_rule_check(recipient: str, refused: bool) -> None:
    verdict = check(rcpt(recipient))
    if not refused:
        assert verdict is None
    else:
        assert verdict is not None
        assert verdict.reply is replies.BAD_PATIENT_ADDRESS
        assert verdict.rule == "patient_address"
        assert recipient in verdict.reason


@pytest.mark.parametrize(
    ("case", "recipient", "reply"),
    [
        ("T17", "185057512345673@patient.mssante.fr", None),
        (
            "T18",
            "185057512345674@patient.mssante.fr",
            "553 5.1.3 Invalid INS-based patient address",
        ),
        ("T19", "290032a00401234@patient.mssante.fr", None),
    ],
)
def test_acceptance_cases_through_the_default_engine(
    case: str, recipient: str, reply: str | None
) -> None:
    outcome = PolicyEngine(DEFAULT_RULES).evaluate(Stage.RCPT, rcpt(recipient))
    assert (found.line() if (found := answer(outcome)) else None) == reply, case
