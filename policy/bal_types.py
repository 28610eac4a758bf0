"""The four BAL types and what a new BAL of each type must carry (R12).

Owns: `BalType`, `BAL_TYPES` (the one list of the types, in this order),
`bal_type` (a string checked into a `BalType`), `RPPS_DIGITS` and
`new_bal_problem`, the pure check run before a BAL is created.

Invariants:
- PER is a personal BAL: it needs the holder's RPPS, exactly 11 digits;
- ORG (an organisation's BAL) and APP (an application's BAL) need the
  identifier of their structure; CAB (a practice) needs neither;
- `new_bal_problem` does no I/O and names the first problem by the field the
  administrator gave (`type`, `rpps`, `structure-id`), or returns None.

Ref: R12 (BAL types and their attributes); docs/architecture.md "Identities".
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

BalType = Literal["PER", "ORG", "APP", "CAB"]
BAL_TYPES: tuple[BalType, ...] = get_args(BalType)
RPPS_DIGITS = 11
STRUCTURE_TYPES: frozenset[BalType] = frozenset({"ORG", "APP"})


class BalProblem(NamedTuple):
    """What is wrong with a new BAL: the field to correct and a message for the administrator."""

    field: str
    message: str


def bal_type(value: str) -> BalType:
    """`value` as a `BalType`; ValueError when it is not one of `BAL_TYPES`."""
    for known in BAL_TYPES:
        if value == known:
            return known
    raise ValueError(f"{value!r} is not a BAL type ({', '.join(BAL_TYPES)})")


def is_rpps(value: str | None) -> bool:
    """True for an RPPS number: exactly `RPPS_DIGITS` ASCII digits."""
    return value is not None and len(value) == RPPS_DIGITS and value.isascii() and value.isdigit()


def new_bal_problem(kind: str, rpps: str | None, structure_id: str | None) -> BalProblem | None:
    """The first problem with the R12 attributes of a new BAL of type `kind`, or None."""
    if kind not in BAL_TYPES:
        return BalProblem("type", f"BAL type must be one of {', '.join(BAL_TYPES)}")
    if kind == "PER" and not is_rpps(rpps):
        return BalProblem("rpps", f"a PER BAL needs --rpps with exactly {RPPS_DIGITS} digits")
    if kind in STRUCTURE_TYPES and not (structure_id and structure_id.strip()):
        return BalProblem("structure-id", f"an {kind} BAL needs --structure-id")
    return None
