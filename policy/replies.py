"""Every refusal the policy package (and its gateway) can send, as named constants.

Owns: the public text of each refusal. Texts are generic and ASCII-only
(hence "MSSante", not "MSSanté"): the rule name, the address
and the list version go to the audit log through `Verdict.reason`, never here.

Invariants: one constant per distinct situation, even where two share a code
(TOO_MANY_RECIPIENTS and DAILY_RECIPIENT_BUDGET are both 452 4.5.3), so that
the audit and the tests can tell them apart. `ALL_REPLIES` lists them all.

Ref: R1, R3, R4, R14-R16, R18, R19, R21, R26, R28 (every code there is
[inferred]); RFC 5321 4.2.2-4.2.3; RFC 3463 3.1-3.8; RFC 4954 6 (530 5.7.0);
RFC 1870 (552 5.3.4 for SIZE).
"""

from __future__ import annotations

from .reply import Reply

# Trust space (R1-R4)
TRUST_SPACE_RECIPIENT = Reply(550, "5.7.1", "Recipient outside the MSSante trust space")
TRUST_SPACE_SENDER = Reply(550, "5.7.1", "Sender domain not in the MSSante trust space")
NO_TRUST_LIST = Reply(451, "4.3.0", "MSSante trust list unavailable, try again later")
OPERATOR_CERT_REQUIRED = Reply(530, "5.7.0", "MSSante operator certificate required")
OPERATOR_DN_MISMATCH = Reply(
    550, "5.7.1", "Operator certificate not authorised for this sender domain"
)
RELAY_DENIED = Reply(550, "5.7.1", "Relay access denied")

# Recipients (R14, R15, R18, R28)
UNKNOWN_RECIPIENT = Reply(550, "5.1.1", "Mailbox unknown")
MAILBOX_DISABLED = Reply(550, "5.2.1", "Mailbox disabled")
MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full, try again later")  # R25, RFC 3463 3.3
BAD_PATIENT_ADDRESS = Reply(553, "5.1.3", "Invalid INS-based patient address")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
DAILY_RECIPIENT_BUDGET = Reply(452, "4.5.3", "Daily recipient limit reached, try again later")

# Sizes (R16, R21)
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
PATIENT_MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Message too big for Mon Espace Sante")

# Senders (submission)
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
SENDER_NOT_AUTHORISED = Reply(553, "5.7.1", "Sender address not authorised")
FROM_HEADER_MISMATCH = Reply(550, "5.7.1", "From header does not match the sender address")
NULL_SENDER_NOT_REPORT = Reply(
    550, "5.7.1", "Null sender only allowed for delivery or read reports"
)

# Content (R19)
INVALID_MSS_HEADER = Reply(554, "5.6.0", "Invalid X-MSS header")

# Attachments and content (R26)
ATTACHMENT_NOT_ALLOWED = Reply(554, "5.7.1", "Attachment type not allowed")
ATTACHMENT_REFUSED = Reply(554, "5.7.1", "Attachment refused by the content policy")
MALWARE_FOUND = Reply(554, "5.7.1", "Message refused: malware detected")
TOO_MANY_PARTS = Reply(554, "5.7.1", "Message holds too many files to check")
MALFORMED_MIME = Reply(554, "5.6.0", "Malformed MIME structure")
ANTIVIRUS_UNAVAILABLE = Reply(451, "4.3.0", "Content scanner unavailable, try again later")
# DKIM on the MX (R4; RFC 7372 3.1: 5.7.20; RFC 3463 3.8: 4.7.5 a temporary security failure)
DKIM_FAILED = Reply(550, "5.7.20", "No passing DKIM signature found")
DKIM_UNAVAILABLE = Reply(451, "4.7.5", "DKIM key lookup failed, try again later")

# Anything unexpected (docs/architecture.md "Conventions" 4)
LOCAL_ERROR = Reply(451, "4.3.0", "Requested action aborted: local error in processing")

ALL_REPLIES: dict[str, Reply] = {
    name: value for name, value in globals().items() if isinstance(value, Reply)
}
