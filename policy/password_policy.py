"""Password policy for human passwords: length, not the address, not a common one.

A pure check: `problem(password, identities, min_length)` returns the public
reason a password is refused, or None. App passwords are random and never
pass through here.

Ref: R9, R10; NIST SP 800-63B 5.1.1.2 (length, blocklist, no
composition rules); docs/architecture.md "Passwords".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

COMMON_PASSWORDS = frozenset({
    "123456", "123456789", "12345678", "1234567890", "1234567", "password", "password1",
    "password123", "motdepasse", "motdepasse1", "motdepasse123", "azerty", "azerty123",
    "azertyuiop", "qwerty", "qwerty123", "qwertyuiop", "111111", "000000", "123123",
    "abc123", "iloveyou", "jetaime", "soleil", "bonjour", "doudou", "chouchou", "loulou",
    "marseille", "nicolas", "julien", "camille", "admin", "admin123", "administrator",
    "welcome", "welcome1", "letmein", "monkey", "dragon", "football", "baseball", "master",
    "sunshine", "princess", "trustno1", "passw0rd", "p@ssw0rd", "p@ssword", "changeme",
    "secret", "medecin", "docteur", "hopital", "sante", "mssante", "mssante123",
    "bienvenue", "bienvenue1", "1q2w3e4r", "1qaz2wsx", "zaq12wsx", "aaaaaa", "azerty1234",
    "motdepassemotdepasse", "passwordpassword", "correcthorsebatterystaple",
})


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9@]", "", text.lower())


def problem(password: str, identities: Iterable[str], min_length: int) -> str | None:
    """Why `password` is refused for an account known by `identities`, or None."""
    if len(password) < min_length:
        return f"must have at least {min_length} characters"
    if len(password) > 1024:
        return "must have at most 1024 characters"
    flat = _normalise(password)
    if flat in COMMON_PASSWORDS or password.lower() in COMMON_PASSWORDS:
        return "is a commonly used password"
    for ident in identities:
        for part in {ident.lower(), ident.lower().split("@")[0]}:
            if len(part) >= 4 and _normalise(part) and _normalise(part) in flat:
                return "must not contain the address or login"
    if len(set(password)) < 4:
        return "uses too few different characters"
    return None
