"""Recipient-count rules: per-message cap, daily budget, audited "justify" threshold.

Owns three rules:
- `recipient_limit` (RCPT, `check`): once the transaction holds the cap for
  the session's BAL type (`PolicyLimits.recipient_cap`: PER 50, ORG/APP/CAB
  100, `default_max_recipients` for sessions without a BAL, e.g. MX), each
  further *new* recipient gets 452 4.5.3 (RFC 5321: the client sends the rest
  in another transaction). A repeated recipient adds nothing.
- `daily_recipient_budget` (RCPT, `check_daily_budget`): when
  `PolicyLimits.daily_recipient_budget` is set, an authenticated BAL whose
  distinct recipients today (`recipients_today`, from the gateway, excluding
  this transaction) plus this transaction's would exceed it gets 452 4.5.3.
  The count is an upper bound (a recipient already written to today may be
  counted twice), so it errs on the side of refusing.
- `recipient_justify` (DATA, `check_justify`): more distinct recipients than
  `justify_threshold` is allowed but *audited*: the rule returns an ACCEPT
  verdict, which the engine files under `Outcome.notes` (R18: "several
  recipients only when justified" cannot be enforced by a machine).

Invariants: recipients are counted case-insensitively and without duplicates.

Ref: R18 (452 4.5.3 [inferred], log the count); T23;
RFC 5321 4.5.3.1.8 and 4.5.3.1.10 (452 too many recipients); RFC 3463 3.6 (X.5.3).
"""

from __future__ import annotations

from collections.abc import Iterable

from .address import normalise_address
from .context import DataContext, RcptContext
from .replies import DAILY_RECIPIENT_BUDGET, TOO_MANY_RECIPIENTS
from .verdict import Verdict

NAME = "recipient_limit"
BUDGET_NAME = "daily_recipient_budget"
JUSTIFY_NAME = "recipient_justify"


def check(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse new recipients beyond the per-transaction cap (R18)."""
    accepted = _distinct(ctx.accepted_recipients)
    if normalise_address(ctx.recipient) in accepted:
        return None
    cap = ctx.limits.recipient_cap(ctx.session.bal_type)
    if len(accepted) < cap:
        return None
    reason = f"recipient {len(accepted) + 1} over cap {cap} for {ctx.session.bal_type or 'no BAL'}"
    return Verdict.tempfail(NAME, TOO_MANY_RECIPIENTS, reason)


def check_daily_budget(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse recipients beyond the BAL's daily budget, when one is set."""
    budget = ctx.limits.daily_recipient_budget
    if budget is None or not ctx.session.authenticated:
        return None
    accepted = _distinct(ctx.accepted_recipients)
    new = 0 if normalise_address(ctx.recipient) in accepted else 1
    total = ctx.recipients_today + len(accepted) + new
    if total <= budget:
        return None
    reason = f"{ctx.session.authenticated_bal}: {total} recipients today over budget {budget}"
    return Verdict.tempfail(BUDGET_NAME, DAILY_RECIPIENT_BUDGET, reason)


def check_justify(ctx: DataContext) -> Verdict | None:
    """DATA: note (accept, audit) a message above the justify threshold (R18)."""
    count = len(_distinct(ctx.recipients))
    threshold = ctx.limits.justify_threshold
    if count <= threshold:
        return None
    return Verdict.audit(JUSTIFY_NAME, f"{count} recipients, over justify threshold {threshold}")


def _distinct(addresses: Iterable[str]) -> frozenset[str]:
    return frozenset(map(normalise_address, addresses))
