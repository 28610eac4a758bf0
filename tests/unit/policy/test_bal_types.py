"""BAL types (R12): the one list, and the check run before a BAL is created."""

from __future__ import annotations

import pytest

from policy.bal_types import BAL_TYPES, BalProblem, bal_type, is_rpps, new_bal_problem


def test_the_four_types_in_order() -> None:
    assert BAL_TYPES == ("PER", "ORG", "APP", "CAB")
    assert bal_type("ORG") == "ORG"
    with pytest.raises(ValueError, match="PER, ORG, APP, CAB"):
        bal_type("per")


@pytest.mark.parametrize(
    ("kind", "rpps", "structure_id", "field"),
    [
        ("PER", "10000000001", None, None),
        ("PER", None, None, "rpps"),
        ("PER", "123", None, "rpps"),
        ("PER", "1000000000a", None, "rpps"),
        ("PER", "١٠٠٠٠٠٠٠٠٠١", None, "rpps"),  # non-ASCII digits are not an RPPS
        ("ORG", None, "S1", None),
        ("ORG", None, None, "structure-id"),
        ("APP", None, "  ", "structure-id"),
        ("APP", None, "S2", None),
        ("CAB", None, None, None),
        ("XYZ", "10000000001", "S1", "type"),
        ("", None, None, "type"),
    ],
)
def test_new_bal_problem_names_the_first_field(kind: str, rpps: str | None,
                                               structure_id: str | None,
                                               field: str | None) -> None:
    found = new_bal_problem(kind, rpps, structure_id)
    assert (found.field if found else None) == field
    if found is not None:
        assert isinstance(found, BalProblem) and found.message


def test_rpps_is_eleven_ascii_digits() -> None:
    assert is_rpps("12345678901") and not is_rpps("1234567890") and not is_rpps(None)
