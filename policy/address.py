"""Envelope address helpers shared by the rules.

Owns: how the policy package splits an envelope address into local part and
domain, and how it compares two addresses.

Invariants:
- the domain is what follows the *last* `@`, lower-cased, and nothing else
  (no trailing-dot stripping, no IDN mapping): an odd domain never matches a
  trusted or local domain, so odd input fails closed;
- an address without `@` has the empty domain, which nothing trusts;
- addresses compare case-insensitively (`str.lower`, not `casefold`, so that
  distinct non-ASCII addresses are never folded together).

Ref: RFC 5321 4.1.2 (Mailbox = Local-part "@" Domain); R2 (exact,
case-insensitive domain match).
"""

from __future__ import annotations


def split_address(address: str) -> tuple[str, str]:
    """`("Dr.X", "op-a.mssante.fr")` for `Dr.X@OP-A.mssante.fr`; domain lower-cased."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    return local, domain.lower()


def domain_of(address: str) -> str:
    """The lower-cased domain of an envelope address ("" when there is none)."""
    return split_address(address)[1]


def normalise_address(address: str) -> str:
    """The form used to compare addresses: lower-cased, surrounding spaces removed."""
    return address.strip().lower()


def same_address(left: str, right: str) -> bool:
    """Case-insensitive address equality."""
    return normalise_address(left) == normalise_address(right)
