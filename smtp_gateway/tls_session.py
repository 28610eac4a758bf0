"""What an SMTP session's TLS tells the policy and the trace: peer DN, version, cipher.

Owns: `peer_dn` (the verified peer certificate's subject as an `OperatorDN`,
for the MX's policy) and `tls_description` (the `version=... cipher=...`
text of the `Received:` trace field and of the `smtp.transaction` audit).
Both read the session through `imap_store.store.tls_facts`, the one reading
of a TLS session, which also gives the `tls.session` audit record of every
listener (`tls_failures.HandshakeLog.established`) and the relay's.

Invariant: only a certificate the TLS layer verified is read (`getpeercert()`
returns nothing for an unverified one), so a DN given here was checked
against `tls.ca_bundle` and the CRLs before the policy compares it (R4, R7).

Ref: R4, R5, R6, R24; RFC 5280 4.1.2.6 (subject); RFC 5321 4.4 (trace).
"""

from __future__ import annotations

import ssl

from imap_store.store.tls_facts import tls_facts
from policy.operator_dn import OperatorDN, dn_from_ssl_subject


def peer_dn(tls: ssl.SSLObject | ssl.SSLSocket | None) -> OperatorDN | None:
    """The verified peer certificate's subject DN; None when the peer sent none."""
    if tls is None:
        return None
    cert = tls.getpeercert()
    if not cert or "subject" not in cert:
        return None
    return dn_from_ssl_subject(cert["subject"])  # type: ignore[arg-type]


def tls_description(tls: ssl.SSLObject | ssl.SSLSocket | None) -> str:
    """`version=TLSv1.3 cipher=...` for the trace and the transaction audit; "" in clear."""
    facts = tls_facts(tls, subject=False)
    if not facts:
        return ""
    return f"version={facts['protocol']} cipher={facts['cipher'] or '?'}"
