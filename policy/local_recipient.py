"""Local recipient rules: does the local BAL exist and accept mail; no open relay.

Owns two RCPT-stage rules:
- `no_relay` (`check_relay`): a session that is not an authenticated
  submission (the MX listener, or submission without AUTH) may only address
  local domains, else 550 5.7.1. Authenticated users reach remote domains,
  subject to `trust_space`.
- `local_recipient` (`check`): from the fact the gateway looked up
  (`RcptContext.recipient_local_state`): `unknown` (never existed or deleted)
  -> 550 5.1.1, `suspended` -> 550 5.2.1, `active` -> no objection. A local
  domain with no state given is a wiring bug: 451 4.3.0 rather than accepting
  blindly.

Invariants: the rule never looks anything up itself; a state given for a
non-local domain is still honoured (the gateway knows best what it hosts).

Ref: R3 (never relay), R14 (550 5.1.1), R28 (suspended 550 5.2.1,
deleted 550 5.1.1); T8, T31; RFC 5321 3.6.2 (relaying), 7.1;
RFC 3463 3.2 (X.1.1), 3.3 (X.2.1).
"""

from __future__ import annotations

from .address import domain_of
from .context import RcptContext
from .replies import LOCAL_ERROR, MAILBOX_DISABLED, RELAY_DENIED, UNKNOWN_RECIPIENT
from .verdict import Verdict

NAME = "local_recipient"
RELAY_NAME = "no_relay"


def check(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse unknown or suspended local BALs (R14, R28)."""
    state = ctx.recipient_local_state
    if state == "unknown":
        return Verdict.reject(NAME, UNKNOWN_RECIPIENT, f"no BAL {ctx.recipient}")
    if state == "suspended":
        return Verdict.reject(NAME, MAILBOX_DISABLED, f"BAL {ctx.recipient} suspended")
    if state is None and domain_of(ctx.recipient) in ctx.local_domains:
        reason = f"gateway gave no local state for {ctx.recipient}"
        return Verdict.tempfail(NAME, LOCAL_ERROR, reason)
    return None


def check_relay(ctx: RcptContext) -> Verdict | None:
    """RCPT: only authenticated submission may address non-local domains (R3)."""
    session = ctx.session
    if session.listener == "submission" and session.authenticated:
        return None
    domain = domain_of(ctx.recipient)
    if domain in ctx.local_domains:
        return None
    reason = f"non-local {ctx.recipient} on {session.listener}, bal={session.authenticated_bal}"
    return Verdict.reject(RELAY_NAME, RELAY_DENIED, reason)
