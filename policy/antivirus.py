"""Antivirus rule: the answer of the operator's ClamAV daemon, at end of DATA.

Owns the rule `antivirus` (`check`). The gateway sends every message to the
configured daemon (`[antivirus] clamd`) and passes its answer as
`DataContext.antivirus`; no answer (None) means no antivirus is configured.

Decision: `infected` -> `554 5.7.1` (MALWARE_FOUND, the signature name in the
audit reason); `unavailable` (no connection, a timeout, an error reply, a
stream over the daemon's size limit) -> `451 4.3.0` (fail closed: the sender
retries); `clean` -> no objection. In mode `warn` an unavailable daemon is
audited and the message accepted.

Ref: R26; RFC 3463 3.3 (4.3.0), 3.8 (5.7.1); docs/architecture.md "Conventions" 1, 6.
"""

from __future__ import annotations

from .context import DataContext
from .replies import ANTIVIRUS_UNAVAILABLE, MALWARE_FOUND
from .verdict import Verdict

NAME = "antivirus"


def check(ctx: DataContext) -> Verdict | None:
    """DATA: refuse what the antivirus found, postpone when it could not answer (R26)."""
    scan = ctx.antivirus
    if scan is None or scan.status == "clean":
        return None
    if scan.status == "infected":
        return Verdict.reject(NAME, MALWARE_FOUND, f"clamd found {scan.detail[:200]}")
    return Verdict.tempfail(NAME, ANTIVIRUS_UNAVAILABLE,
                            f"clamd unavailable: {scan.detail[:200]}")
