"""Bounds on RCPT commands: per transaction, and refused ones per session.

Owns: `RcptLimits` (the configured thresholds), `RcptGuard` (the counter of
one connection, kept by `protocol.MssSMTP`) and `counts_as_refused` (which
replies to RCPT count as a refusal).

Invariants:
- every RCPT command of a transaction counts toward `max_commands`, whether
  accepted, repeated or refused (by the policy or by aiosmtpd's syntax
  checks); past it, each further RCPT of that transaction gets `452 4.5.3`
  without being looked at (RFC 5321 4.5.3.1.10), and the first one is audited;
- a refused RCPT counts toward the session's `max_refused` unless its reply
  is about the number of recipients (X.5.3) or the server's own state (X.3.x,
  RFC 3463 3.4): an address refused as unknown, disabled, outside the trust
  space or malformed counts, a recipient cap reached does not; once
  `max_refused` refusals are counted, the next RCPT gets `421 4.7.0`, is
  audited, and the connection is closed (RFC 5321 3.8);
- the counts survive RSET and new transactions within one connection
  (STARTTLS included); the audit gets counts and thresholds, never an address.

Ref: RFC 5321 3.8, 4.5.3.1.10; RFC 3463 3.4, 3.6; R18, R24.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy.reply import Reply

from .replies import TOO_MANY_RCPT_COMMANDS, TOO_MANY_REFUSED_RCPTS
from .session import Transaction

DEFAULT_MAX_COMMANDS = 1000
DEFAULT_MAX_REFUSED = 20


@dataclass(frozen=True)
class RcptLimits:
    """RCPT commands per transaction, refused RCPTs per session (both at least 1)."""

    max_commands: int = DEFAULT_MAX_COMMANDS
    max_refused: int = DEFAULT_MAX_REFUSED

    def __post_init__(self) -> None:
        if self.max_commands < 1 or self.max_refused < 1:
            raise ValueError("RCPT limits must be at least 1")


@dataclass(frozen=True)
class RcptStop:
    """A RCPT answered by a limit: the reply, whether to close, what to audit (or None)."""

    reply: Reply
    close: bool
    audit: dict[str, object] | None


def counts_as_refused(status: bytes) -> bool:
    """Whether the reply line to a RCPT counts toward the refused-RCPT limit."""
    code, _, rest = status.partition(b" ")
    if code.startswith(b"2"):
        return False
    subject_detail = rest.partition(b" ")[0].split(b".")[1:]
    # RFC 3463 3.4 (X.3.x mail system status), 3.6 (X.5.3 too many recipients)
    return not (subject_detail[:1] == [b"3"] or subject_detail == [b"5", b"3"])


class RcptGuard:
    """The RCPT counts of one connection."""

    def __init__(self, limits: RcptLimits) -> None:
        self.limits = limits
        self.refused = 0

    def admit(self, txn: Transaction | None) -> RcptStop | None:
        """Count a RCPT command; the limit that answers it, or None to read it."""
        if self.refused >= self.limits.max_refused:
            return RcptStop(TOO_MANY_REFUSED_RCPTS, True, {
                "limit": "refused_rcpts", "refused": self.refused,
                "threshold": self.limits.max_refused})
        if txn is None:  # no MAIL yet: aiosmtpd answers 503 (counted by `answered`)
            return None
        txn.rcpt_commands += 1
        if txn.rcpt_commands <= self.limits.max_commands:
            return None
        first = txn.rcpt_commands == self.limits.max_commands + 1
        return RcptStop(TOO_MANY_RCPT_COMMANDS, False, {
            "limit": "rcpt_commands", "recipients": len(txn.recipients),
            "repeated": txn.repeated, "threshold": self.limits.max_commands} if first else None)

    def answered(self, status: bytes) -> None:
        """Count the reply that a read RCPT got."""
        if counts_as_refused(status):
            self.refused += 1
