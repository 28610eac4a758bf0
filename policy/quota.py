"""The mailbox quota rule: a full BAL, or one a declared size would overflow, is
refused at RCPT with `452 4.2.2` (temporary: the sender's server retries, and
the user is told by the near-quota notices to make room).

Owns the RCPT-stage rule `mailbox_quota` (`check`), fed with the recipient's
usage and limits (`RcptContext.recipient_quota`, read by the gateway with the
recipient look-up) and MAIL's `SIZE=` (RFC 1870):
- the BAL is full when its stored octets or messages have reached a limit;
- with `SIZE=`, a message that would take the stored octets beyond the limit
  is refused before its DATA is sent (RFC 1870 6.2: 452 when the space is
  only temporarily unavailable).

There is no DATA-stage check: a reply to DATA applies to every recipient at
once, so a message accepted at RCPT for a BAL is delivered even when its real
size takes that BAL past its limit (by one message at most per transaction;
a full mailbox never silently loses a colleague's letter, and the next RCPT
is refused).

Invariants: a remote recipient (no quota facts) and a BAL without limits pass;
the rule looks nothing up itself.

Ref: R25 (452 4.2.2 when full); RFC 3463 3.3 (X.2.2 mailbox full); RFC 1870 6.2.
"""

from __future__ import annotations

from .context import RcptContext
from .replies import MAILBOX_FULL
from .verdict import Verdict

NAME = "mailbox_quota"


def check(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse a local BAL at its quota, or one a declared SIZE would overflow."""
    q = ctx.recipient_quota
    if q is None:
        return None
    if q.limit_bytes and q.used_bytes >= q.limit_bytes:
        return Verdict.tempfail(NAME, MAILBOX_FULL, f"{ctx.recipient}: storage quota reached "
                                f"({q.used_bytes}/{q.limit_bytes} octets)")
    if q.limit_messages and q.used_messages >= q.limit_messages:
        return Verdict.tempfail(NAME, MAILBOX_FULL, f"{ctx.recipient}: message quota reached "
                                f"({q.used_messages}/{q.limit_messages})")
    size = ctx.size_param
    if size is not None and q.limit_bytes and q.used_bytes + size > q.limit_bytes:
        return Verdict.tempfail(NAME, MAILBOX_FULL, f"{ctx.recipient}: SIZE={size} exceeds "
                                f"the room left ({q.limit_bytes - q.used_bytes} octets)")
    return None
