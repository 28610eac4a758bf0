"""Message size rules: the operator maximum and the Mon Espace Sante maximum.

Owns two rule names, each checked as early as the evidence allows:
- `message_size`: at MAIL (`check_declared`), a `SIZE=` parameter above
  `PolicyLimits.max_message_size` -> 552 5.3.4; at end of DATA
  (`check_actual`), the real size above it -> 552 5.3.4 (the client may lie
  or omit SIZE=).
- `patient_message_size`: at RCPT (`check_patient_declared`), a patient
  recipient when `SIZE=` is above `patient_max_message_size` -> 552 5.3.4;
  at end of DATA (`check_patient_actual`), the real size above it when any
  recipient is a patient.

Invariants: sizes are bytes as counted by the gateway (the message as
received, before any header the server adds); a missing `SIZE=` is no
objection at MAIL/RCPT. Mixed patient and professional recipients are allowed
(R17); only the size cap changes.

Ref: R16 (25 MB towards Mon Espace Sante, unit unconfirmed: the
default 25,000,000 bytes is the cautious reading), R17, R21; T20, T21;
RFC 1870 (SIZE, 552 after MAIL and after DATA); RFC 3463 3.4 (X.3.4).
"""

from __future__ import annotations

from .context import DataContext, MailContext, RcptContext
from .patient_address import is_patient_address
from .replies import MESSAGE_TOO_BIG, PATIENT_MESSAGE_TOO_BIG
from .verdict import Verdict

NAME = "message_size"
PATIENT_NAME = "patient_message_size"


def check_declared(ctx: MailContext) -> Verdict | None:
    """MAIL: refuse a declared SIZE= above the operator maximum (R21)."""
    limit = ctx.limits.max_message_size
    if ctx.size_param is None or ctx.size_param <= limit:
        return None
    return Verdict.reject(NAME, MESSAGE_TOO_BIG, f"SIZE={ctx.size_param} over {limit}")


def check_patient_declared(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse a patient recipient when SIZE= is above the MES maximum (R16)."""
    limit = ctx.limits.patient_max_message_size
    if ctx.size_param is None or ctx.size_param <= limit:
        return None
    if not is_patient_address(ctx.recipient):
        return None
    reason = f"SIZE={ctx.size_param} over patient limit {limit} for {ctx.recipient}"
    return Verdict.reject(PATIENT_NAME, PATIENT_MESSAGE_TOO_BIG, reason)


def check_actual(ctx: DataContext) -> Verdict | None:
    """DATA: refuse a message larger than the operator maximum (R21)."""
    limit = ctx.limits.max_message_size
    if ctx.size <= limit:
        return None
    return Verdict.reject(NAME, MESSAGE_TOO_BIG, f"message of {ctx.size} bytes over {limit}")


def check_patient_actual(ctx: DataContext) -> Verdict | None:
    """DATA: refuse a message above the MES maximum when a recipient is a patient (R16)."""
    limit = ctx.limits.patient_max_message_size
    if ctx.size <= limit or not any(map(is_patient_address, ctx.recipients)):
        return None
    reason = f"message of {ctx.size} bytes over patient limit {limit}"
    return Verdict.reject(PATIENT_NAME, PATIENT_MESSAGE_TOO_BIG, reason)
