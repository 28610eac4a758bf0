"""Patient addresses (`<INS matricule>@patient.mssante.fr`) and their RCPT rule.

Owns: `PATIENT_DOMAIN`, `is_patient_address`, the INS key algorithm
(`ins_key`, `is_valid_ins`) and the RCPT-stage rule `patient_address`
(`check`).

Invariants:
- an INS matricule is 15 characters: 5 digits, then 2 digits or `2A`/`2B`
  (case-insensitive), then 8 digits, the last 2 being the key; only length,
  charset and key are checked (no sex/month/department validation), so that
  legitimate INS with unusual components are not refused;
- key = 97 - (N mod 97) where N is the 13-character body with `2A` -> 19 and
  `2B` -> 18 *at the department position only*; the key is therefore in
  01..97, and `00`, `98`, `99` never validate;
- digits are ASCII `[0-9]` only (no Unicode digits), and matching is `fullmatch`
  (no trailing newline slips through).

Ref: R15 (553 5.1.3 [inferred]), R17 (mixed patient/professional
recipients allowed), docs/rules.md "The INS key" (CNAM `NirKey::compute`);
RFC 3463 3.2 (X.1.3 bad destination mailbox address syntax).
"""

from __future__ import annotations

import re

from .address import split_address
from .context import RcptContext
from .replies import BAD_PATIENT_ADDRESS
from .verdict import Verdict

NAME = "patient_address"
PATIENT_DOMAIN = "patient.mssante.fr"

_BODY = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}", re.IGNORECASE)
_INS = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}", re.IGNORECASE)
_CORSICA = {"2A": "19", "2B": "18"}


def is_patient_address(address: str) -> bool:
    """True for any address in the Mon Espace Sante domain (case-insensitive)."""
    return split_address(address)[1] == PATIENT_DOMAIN


def ins_key(body13: str) -> int:
    """The INS/NIR key (1..97) of a 13-character body; ValueError if malformed."""
    if not _BODY.fullmatch(body13):
        raise ValueError(f"not a 13-character INS body: {body13!r}")
    department = body13[5:7].upper()
    digits = body13[:5] + _CORSICA.get(department, department) + body13[7:]
    return 97 - int(digits) % 97


def is_valid_ins(local: str) -> bool:
    """True for a 15-character INS matricule with a correct key."""
    if not _INS.fullmatch(local):
        return False
    return ins_key(local[:13]) == int(local[13:])


def check(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse a patient address whose local part is not a valid INS (R15)."""
    local, domain = split_address(ctx.recipient)
    if domain != PATIENT_DOMAIN or is_valid_ins(local):
        return None
    return Verdict.reject(NAME, BAD_PATIENT_ADDRESS, f"invalid INS in {ctx.recipient}")
