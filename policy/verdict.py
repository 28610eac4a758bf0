"""The value a policy rule returns: what to do, what to answer, and why.

Owns: `Action` and `Verdict`. A rule returns `Verdict | None`; `None` means
"no objection". The engine, not the rule, applies modes and soft-bounce.

The three actions are the only ones the gateway acts on: REJECT and TEMPFAIL
are answered with the verdict's reply, ACCEPT is audited and the command
goes on. A rule cannot ask for anything else (no quarantine, no rewriting).

Invariants (checked at construction):
- REJECT carries a 5xx `Reply`, TEMPFAIL a 4xx `Reply`;
- ACCEPT carries no reply: it is an *audit note* ("accepted, but record
  this"), e.g. a message above the recipient justify threshold (R18);
- `rule` names the rule (a `RULE_NAMES` entry); `reason` is internal detail for
  the audit log and is never sent to the client.

Ref: docs/architecture.md "Conventions" 1, 4, 5; R18, R24.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .reply import Reply


class Action(Enum):
    """What the gateway does with the command or message."""

    ACCEPT = "accept"
    REJECT = "reject"
    TEMPFAIL = "tempfail"


@dataclass(frozen=True)
class Verdict:
    """One rule's decision. Build it with the class-method helpers."""

    action: Action
    reply: Reply | None
    rule: str
    reason: str

    def __post_init__(self) -> None:
        if not self.rule:
            raise ValueError("a verdict must name its rule")
        _check_reply_matches_action(self.action, self.reply)

    @classmethod
    def reject(cls, rule: str, reply: Reply, reason: str) -> Verdict:
        """Permanent refusal (the reply must be 5xx)."""
        return cls(Action.REJECT, reply, rule, reason)

    @classmethod
    def tempfail(cls, rule: str, reply: Reply, reason: str) -> Verdict:
        """Transient refusal (the reply must be 4xx)."""
        return cls(Action.TEMPFAIL, reply, rule, reason)

    @classmethod
    def refuse(cls, rule: str, reply: Reply, reason: str) -> Verdict:
        """REJECT or TEMPFAIL, chosen from the reply's class digit."""
        action = Action.REJECT if reply.is_permanent else Action.TEMPFAIL
        return cls(action, reply, rule, reason)

    @classmethod
    def audit(cls, rule: str, reason: str) -> Verdict:
        """Accept, but record `reason` in the audit log (an engine *note*)."""
        return cls(Action.ACCEPT, None, rule, reason)

    @property
    def refuses(self) -> bool:
        """True when the client must get `reply` instead of a 2xx."""
        return self.action in (Action.REJECT, Action.TEMPFAIL)


def _check_reply_matches_action(action: Action, reply: Reply | None) -> None:
    if action is Action.REJECT and (reply is None or not reply.is_permanent):
        raise ValueError("a REJECT verdict needs a 5xx reply")
    if action is Action.TEMPFAIL and (reply is None or not reply.is_transient):
        raise ValueError("a TEMPFAIL verdict needs a 4xx reply")
    if action is Action.ACCEPT and reply is not None:
        raise ValueError(f"a {action.value} verdict carries no reply")
