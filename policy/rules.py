"""The registry: every policy rule, per stage, in evaluation order, with its default mode.

Owns: `DEFAULT_RULES` (what `PolicyEngine(DEFAULT_RULES, modes, soft_bounce)`
runs) and `RULE_NAMES` (the keys the configuration may use for modes).

Order within a stage is deliberate: the cheapest and most fundamental checks
first (authentication, relay, caps), then address validity (trust space,
INS, local BAL), then limits that merely postpone (daily budget). The first
enforced refusal wins, so the order decides which reply the client sees.

| stage | rule                    | default | rule text                         |
| ----- | ----------------------- | ------- | --------------------------------- |
| MAIL  | sender_authorised       | enforce | submission: AUTH, granted sender  |
| MAIL  | trust_space_sender      | enforce | R1: MX sender domain listed       |
| MAIL  | operator_certificate    | enforce | R4: MX peer DN listed for domain  |
| MAIL  | message_size            | enforce | R21: SIZE= over max               |
| RCPT  | no_relay                | enforce | R3: only authenticated relay      |
| RCPT  | recipient_limit         | enforce | R18: per-transaction cap          |
| RCPT  | trust_space             | enforce | R3: recipient in trust space      |
| RCPT  | patient_address         | enforce | R15: INS key                      |
| RCPT  | local_recipient         | enforce | R14, R28: unknown / suspended BAL |
| RCPT  | mailbox_quota           | enforce | R25: BAL full, or SIZE= too large |
| RCPT  | patient_message_size    | enforce | R16: SIZE= over MES max           |
| RCPT  | daily_recipient_budget  | enforce | R18: daily budget (if configured) |
| DATA  | null_sender             | enforce | null sender only for reports      |
| DATA  | from_header             | enforce | From = envelope sender            |
| DATA  | message_size            | enforce | R21: real size over max           |
| DATA  | patient_message_size    | enforce | R16: real size over MES max       |
| DATA  | recipient_justify       | enforce | R18: audit note above threshold   |
| DATA  | mss_headers             | warn    | R19: X-MSS-* syntax               |
| DATA  | attachments             | enforce | R26: files checked on their type  |
| DATA  | antivirus               | enforce | R26: ClamAV (if configured)       |
| DATA  | dkim                    | warn    | R4: DKIM fails (MX, if verified)  |

No rule is registered for CONNECT or EHLO; the stages exist so that a rule
added there needs no wiring change.

Ref: docs/architecture.md "Conventions" 2 and 6; R1, R3, R4, R14-R19, R21, R25, R26, R28.
"""

from __future__ import annotations

from . import (
    antivirus,
    attachments,
    dkim,
    local_recipient,
    message_size,
    mss_headers,
    patient_address,
    quota,
    recipient_limit,
    sender,
    trust_space,
)
from .context import Stage
from .engine import Mode, RuleSpec

MAIL, RCPT, DATA = Stage.MAIL, Stage.RCPT, Stage.DATA

DEFAULT_RULES: tuple[RuleSpec, ...] = (
    RuleSpec(sender.NAME, MAIL, sender.check_mail),
    RuleSpec(trust_space.SENDER_NAME, MAIL, trust_space.check_sender),
    RuleSpec(trust_space.OPERATOR_NAME, MAIL, trust_space.check_operator_dn),
    RuleSpec(message_size.NAME, MAIL, message_size.check_declared),
    RuleSpec(local_recipient.RELAY_NAME, RCPT, local_recipient.check_relay),
    RuleSpec(recipient_limit.NAME, RCPT, recipient_limit.check),
    RuleSpec(trust_space.NAME, RCPT, trust_space.check),
    RuleSpec(patient_address.NAME, RCPT, patient_address.check),
    RuleSpec(local_recipient.NAME, RCPT, local_recipient.check),
    RuleSpec(quota.NAME, RCPT, quota.check),
    RuleSpec(message_size.PATIENT_NAME, RCPT, message_size.check_patient_declared),
    RuleSpec(recipient_limit.BUDGET_NAME, RCPT, recipient_limit.check_daily_budget),
    RuleSpec(sender.NULL_NAME, DATA, sender.check_null_sender),
    RuleSpec(sender.FROM_NAME, DATA, sender.check_from_header),
    RuleSpec(message_size.NAME, DATA, message_size.check_actual),
    RuleSpec(message_size.PATIENT_NAME, DATA, message_size.check_patient_actual),
    RuleSpec(recipient_limit.JUSTIFY_NAME, DATA, recipient_limit.check_justify),
    RuleSpec(mss_headers.NAME, DATA, mss_headers.check, Mode.WARN),
    RuleSpec(attachments.NAME, DATA, attachments.check),
    RuleSpec(antivirus.NAME, DATA, antivirus.check),
    RuleSpec(dkim.NAME, DATA, dkim.check, Mode.WARN),
)

RULE_NAMES: tuple[str, ...] = tuple(dict.fromkeys(spec.name for spec in DEFAULT_RULES))
