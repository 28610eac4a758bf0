"""DKIM rule: the signatures of mail from another operator, checked on the MX.

Owns the rule `dkim` (`check`). The MX verifies the DKIM signatures of each
message it receives (`smtp_gateway.dkim.verify`) and passes the outcome as
`DataContext.dkim`; None means nothing was verified (submission, where the
sender is our own authenticated user).

Decision: no passing signature and a signature that fails or is malformed
(`fail`, `permerror`) -> `550 5.7.20`; a key that could not be fetched
(`temperror`) and none passing -> `451 4.7.5` (the sender retries);
`pass` and `none` (an unsigned message) -> no objection. The rule's mode
is `warn` by default (`policy.modes.dkim`): a failure is audited ("would
refuse") and the message accepted; in `enforce` it is refused.

Ref: R4 (the receiving operator checks where mail comes from); RFC 6376 6.1,
RFC 7372 3.1 (5.7.20), RFC 3463 3.8; docs/architecture.md "Conventions" 1, 6.
"""

from __future__ import annotations

from .context import DataContext
from .replies import DKIM_FAILED, DKIM_UNAVAILABLE
from .verdict import Verdict

NAME = "dkim"


def check(ctx: DataContext) -> Verdict | None:
    """DATA on the MX: refuse a message whose DKIM signatures fail (R4)."""
    outcome = ctx.dkim
    if outcome is None or outcome.status in ("pass", "none"):
        return None
    if outcome.status == "temperror":
        return Verdict.tempfail(NAME, DKIM_UNAVAILABLE, f"dkim: {outcome.detail[:300]}")
    return Verdict.reject(NAME, DKIM_FAILED, f"dkim {outcome.status}: {outcome.detail[:300]}")
