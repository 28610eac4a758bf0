"""SMTP replies as typed values, and the exception that carries one.

Owns: `Reply` (reply code, RFC 3463 enhanced status code, public text) and
`SmtpReject` (a reply plus an internal reason, raised deep, answered once by
the protocol layer).

Invariants:
- a `Reply` is valid by construction: code in 200..599, enhanced code of the
  form class.subject.detail whose class digit equals the code's first digit,
  text non-empty printable ASCII (it is sent to the client verbatim);
- public text is generic; internal detail only ever goes in
  `SmtpReject.reason` or `Verdict.reason` (audit log), never in the reply.

Ref: RFC 5321 4.2 (reply codes); RFC 3463 (enhanced status codes);
RFC 2034 (ENHANCEDSTATUSCODES); docs/architecture.md "Conventions" 3-5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENHANCED = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}")
_PUBLIC_TEXT = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: `550 5.7.1 Recipient outside the MSSante trust space`."""

    code: int
    enhanced: str
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"SMTP reply code {self.code} is not in 2xx-5xx")
        if not _ENHANCED.fullmatch(self.enhanced):
            raise ValueError(f"enhanced status code {self.enhanced!r} is malformed")
        if str(self.code)[0] != self.enhanced[0]:
            raise ValueError(
                f"reply code {self.code} and enhanced code {self.enhanced} differ in class"
            )
        if not _PUBLIC_TEXT.fullmatch(self.text) or self.text != self.text.strip():
            raise ValueError(f"reply text {self.text!r} must be printable ASCII, trimmed")

    @property
    def is_permanent(self) -> bool:
        """True for a 5xx reply (RFC 5321 4.2.1: permanent negative completion)."""
        return self.code >= 500

    @property
    def is_transient(self) -> bool:
        """True for a 4xx reply (RFC 5321 4.2.1: transient negative completion)."""
        return 400 <= self.code < 500

    def line(self) -> str:
        """The reply line as sent on the wire, without CRLF."""
        return f"{self.code} {self.enhanced} {self.text}"

    def soft(self) -> Reply:
        """The 4xx/4.x.x form of a 5xx reply (Postfix `soft_bounce`); others unchanged."""
        if not self.is_permanent:
            return self
        return Reply(self.code - 100, "4" + self.enhanced[1:], self.text)

    def __str__(self) -> str:
        return self.line()


class SmtpReject(Exception):
    """Raised deep in the stack; the one SMTP reply point catches it.

    `reply` goes to the client, `reason` (internal detail) to the audit log only.
    """

    def __init__(self, reply: Reply, reason: str) -> None:
        super().__init__(f"{reply.line()} ({reason})")
        self.reply = reply
        self.reason = reason
