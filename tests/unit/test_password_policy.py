"""Password policy table (NIST SP 800-63B style: length, blocklist, identity)."""

from __future__ import annotations

import pytest

from policy.password_policy import problem

ADDR = ["dr.martin@op-a.mssante.fr"]


@pytest.mark.parametrize(("password", "expected"), [
    ("short", "at least 12"),
    ("correct horse battery staple", "commonly used"),
    ("motdepasse123", "commonly used"),
    ("Mot-de-passe-123", "commonly used"),
    ("dr.martin-2026!!", "address"),
    ("DRMARTIN is my password", "address"),
    ("aaaaaaaaaaaaaaaa", "different characters"),
    ("x" * 1025, "at most"),
    ("un cheval vert mange 7 pommes", None),
])
def test_password_problems(password: str, expected: str | None) -> None:
    result = problem(password, ADDR, 12)
    if expected is None:
        assert result is None
    else:
        assert result is not None and expected in result
