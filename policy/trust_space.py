"""Trust-space rules: mail stays inside MSSante, and comes only from inside it.

Owns three rules:
- `trust_space` (RCPT, `check`): a recipient whose domain is neither local nor
  on the trust list is refused, 550 5.7.1 (R3). With no trust list ever
  loaded, remote recipients get 451 4.3.0 (docs/architecture.md "Defaults"); local
  domains are always trusted, list or no list.
- `trust_space_sender` (MAIL, MX listener only, `check_sender`): the MAIL
  FROM domain must be local or on the list, else 550 5.7.1 (R1, T5). The
  null sender (bounces, MDN reports) is left to `operator_certificate`.
- `operator_certificate` (MAIL, MX listener only, `check_operator_dn`): the
  peer must have presented a certificate (else 530 5.7.0), and its subject DN
  must be listed for the MAIL FROM domain, or for any domain when the sender is
  null (else 550 5.7.1) (R4, T6). Chain, expiry and revocation checks are the
  TLS layer's job, before this rule runs.

Invariants: membership is exact and case-insensitive (`TrustList.is_trusted`),
never a suffix test (R2); reasons name the list version for the audit.

Ref: R1, R2, R3, R4; T5, T6, T10, T15; RFC 3463 3.8 (X.7.1).
"""

from __future__ import annotations

from .address import domain_of
from .context import MailContext, RcptContext
from .replies import (
    NO_TRUST_LIST,
    OPERATOR_CERT_REQUIRED,
    OPERATOR_DN_MISMATCH,
    TRUST_SPACE_RECIPIENT,
    TRUST_SPACE_SENDER,
)
from .trust_list import format_dn
from .verdict import Verdict

NAME = "trust_space"
SENDER_NAME = "trust_space_sender"
OPERATOR_NAME = "operator_certificate"


def check(ctx: RcptContext) -> Verdict | None:
    """RCPT: refuse recipients outside the trust space (R3)."""
    domain = domain_of(ctx.recipient)
    if domain in ctx.local_domains:
        return None
    if ctx.trust_list is None:
        return Verdict.tempfail(NAME, NO_TRUST_LIST, f"no trust list loaded for {domain!r}")
    if ctx.trust_list.is_trusted(domain):
        return None
    reason = f"recipient {ctx.recipient} not in trust list {ctx.trust_list.version}"
    return Verdict.reject(NAME, TRUST_SPACE_RECIPIENT, reason)


def check_sender(ctx: MailContext) -> Verdict | None:
    """MAIL on the MX listener: the sender domain must be in the trust space (R1)."""
    if ctx.session.listener != "mx" or not ctx.mail_from:
        return None
    domain = domain_of(ctx.mail_from)
    if domain in ctx.local_domains:
        return None
    if ctx.trust_list is None:
        return Verdict.tempfail(SENDER_NAME, NO_TRUST_LIST, f"no trust list for {domain!r}")
    if ctx.trust_list.is_trusted(domain):
        return None
    reason = f"sender {ctx.mail_from} not in trust list {ctx.trust_list.version}"
    return Verdict.reject(SENDER_NAME, TRUST_SPACE_SENDER, reason)


def check_operator_dn(ctx: MailContext) -> Verdict | None:
    """MAIL on the MX listener: the peer certificate DN must be listed (R4)."""
    if ctx.session.listener != "mx":
        return None
    dn = ctx.session.peer_cert_dn
    if dn is None:
        return Verdict.reject(OPERATOR_NAME, OPERATOR_CERT_REQUIRED, "no client certificate")
    if ctx.trust_list is None:
        return Verdict.tempfail(OPERATOR_NAME, NO_TRUST_LIST, "no trust list to check DN")
    domain = domain_of(ctx.mail_from)
    if ctx.mail_from and ctx.trust_list.dn_listed_for(domain, dn):
        return None
    if not ctx.mail_from and ctx.trust_list.dn_listed(dn):
        return None
    reason = f"peer DN {format_dn(dn)} not listed for {domain or '<>'} in {ctx.trust_list.version}"
    return Verdict.reject(OPERATOR_NAME, OPERATOR_DN_MISMATCH, reason)
