"""What a TLS session tells the audit and the policy: protocol, cipher, peer DN.

Owns: `peer_dn` (the verified peer certificate's subject as an `OperatorDN`)
and `describe` (protocol, cipher and peer subject as the audit records them
for every TLS session of the MX and the relay).

Invariant: only a certificate the TLS layer verified is read (`getpeercert()`
returns nothing for an unverified one), so a DN given here was checked
against `tls.ca_bundle` and the CRLs before the policy compares it (R4, R7).

Ref: R4, R5, R6, R24; RFC 5280 4.1.2.6 (subject).
"""

from __future__ import annotations

import ssl

from policy.operator_dn import OperatorDN, dn_from_ssl_subject, format_dn


def peer_dn(tls: ssl.SSLObject | ssl.SSLSocket | None) -> OperatorDN | None:
    """The verified peer certificate's subject DN; None when the peer sent none."""
    if tls is None:
        return None
    cert = tls.getpeercert()
    if not cert or "subject" not in cert:
        return None
    return dn_from_ssl_subject(cert["subject"])  # type: ignore[arg-type]


def describe(tls: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, str]:
    """Protocol, cipher and peer subject ("" when none) of a TLS session."""
    if tls is None:
        return {}
    cipher = tls.cipher()
    dn = peer_dn(tls)
    return {"protocol": tls.version() or "", "cipher": cipher[0] if cipher else "",
            "peer_subject": format_dn(dn) if dn is not None else ""}

