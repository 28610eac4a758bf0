"""MSSante `X-MSS-*` headers: syntax check (rule `mss_headers`) and extraction.

Owns: `MSS_HEADERS`, `extract_mss_headers(headers)` (the values to record in
the delivery log, e.g. `X-MSS-NIL` for usage statistics), `parse_codecda`,
`mss_header_problems(headers)` and the DATA-stage rule `mss_headers`
(`check`), registered in mode WARN by default.

Syntax checked (docs/rules.md "X-MSS headers"):
- `X-MSS-INS`: `O` or `N`; `X-MSS-MES`: `FIN`;
- `X-MSS-CODECDA`: comma-separated codes `[A-Za-z0-9._+-]+` (spaces around
  commas tolerated); `X-MSS-NIL`: one non-empty token of visible ASCII;
- each of the four at most once.

Invariants: the headers are client obligations (Ref#2 binds the LPS, not
the operator): a message *without* them is never refused, and the rule
defaults to WARN so that malformed values are logged, not bounced (R19, T26).
Nothing here rewrites or strips a header: the message passes unchanged (T24).

Ref: R19, docs/rules.md "X-MSS headers" (ECO.2.4.1-2.4.3, ECO.2.2.8); T24-T26;
RFC 5322 3.6.8 (optional fields); RFC 3463 3.7 (X.6.0).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from .context import DataContext
from .replies import INVALID_MSS_HEADER
from .verdict import Verdict

NAME = "mss_headers"
MSS_HEADERS = ("X-MSS-INS", "X-MSS-MES", "X-MSS-CODECDA", "X-MSS-NIL")
_CANONICAL = {name.lower(): name for name in MSS_HEADERS}
_CODE = re.compile(r"[A-Za-z0-9._+-]+")
_TOKEN = re.compile(r"[\x21-\x7e]+")

Headers = Iterable[tuple[str, str]]


def parse_codecda(value: str) -> tuple[str, ...]:
    """`"34112-3, PRESC-BIO"` -> `("34112-3", "PRESC-BIO")`; ValueError if malformed."""
    codes = tuple(code.strip() for code in value.split(","))
    if not all(_CODE.fullmatch(code) for code in codes):
        raise ValueError(f"malformed X-MSS-CODECDA {value[:80]!r}")
    return codes


def extract_mss_headers(headers: Headers) -> dict[str, str]:
    """The X-MSS-* values (first occurrence, stripped) keyed by canonical name."""
    found: dict[str, str] = {}
    for name, value in headers:
        canonical = _CANONICAL.get(name.strip().lower())
        if canonical is not None and canonical not in found:
            found[canonical] = value.strip()
    return found


def mss_header_problems(headers: Headers) -> tuple[str, ...]:
    """Human-readable problems with the X-MSS-* headers (empty when all is well)."""
    present = [
        (canonical, value.strip())
        for name, value in headers
        if (canonical := _CANONICAL.get(name.strip().lower())) is not None
    ]
    counts = Counter(name for name, _ in present)
    problems = [f"{name} appears {n} times" for name, n in counts.items() if n > 1]
    for name, value in present:
        if not _VALIDATORS[name](value):
            problems.append(f"{name} has invalid value {value[:40]!r}")
    return tuple(problems)


def check(ctx: DataContext) -> Verdict | None:
    """DATA: report malformed or repeated X-MSS-* headers (WARN by default, R19)."""
    problems = mss_header_problems(ctx.message.headers)
    if not problems:
        return None
    return Verdict.reject(NAME, INVALID_MSS_HEADER, "; ".join(problems))


def _valid_codecda(value: str) -> bool:
    try:
        parse_codecda(value)
    except ValueError:
        return False
    return True


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "X-MSS-INS": lambda value: value in ("O", "N"),
    "X-MSS-MES": lambda value: value == "FIN",
    "X-MSS-CODECDA": _valid_codecda,
    "X-MSS-NIL": lambda value: _TOKEN.fullmatch(value) is not None,
}
