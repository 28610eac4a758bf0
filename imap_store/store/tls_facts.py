"""What one TLS session tells the audit: protocol, cipher, peer certificate subject.

Owns: `tls_facts`, the one reading of an established TLS session for the
audit trail, used for every session of every listener (submission,
submissions, smtp, imap, imaps, http: through `tls_failures.HandshakeLog`)
and by the relay client for each delivery. It lives in the store because the
store is the one package the gateway, the IMAP engine and the HTTP listener
may all import.

Invariants:
- only what the TLS layer negotiated and verified is read: `getpeercert()`
  gives a peer certificate only once it was verified against the context's
  trust anchors (an unverifiable one fails the handshake), and none at all
  on a context that asks for no client certificate;
- the subject is written as RFC 4514 does (most specific RDN first, values
  escaped), with the attribute names `policy.operator_dn` uses, so the audit
  shows a DN as the trust list names it; "" when the peer sent no certificate;
- no byte the client sent is recorded.

Ref: R5, R6 (protocol and suites audited), R24; RFC 4514 2 (DN strings),
RFC 5280 4.1.2.6 (subject).
"""

from __future__ import annotations

import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID

# The names `policy.operator_dn` gives these attributes (cryptography writes OIDs).
_NAMES = {NameOID.SERIAL_NUMBER: "SERIALNUMBER", NameOID.EMAIL_ADDRESS: "EMAILADDRESS"}


def peer_subject(tls: ssl.SSLObject | ssl.SSLSocket) -> str:
    """The verified peer certificate's subject as an RFC 4514 string; "" without one."""
    der = tls.getpeercert(binary_form=True)
    if not der:
        return ""
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string(_NAMES)
    except ValueError:  # a subject cryptography cannot read: said so, not guessed
        return "(unreadable subject)"


def tls_facts(tls: ssl.SSLObject | ssl.SSLSocket | None, *,
              subject: bool = True) -> dict[str, str]:
    """Protocol version, cipher suite and (unless `subject` is False) peer subject of a
    TLS session; {} without TLS."""
    if tls is None:
        return {}
    cipher = tls.cipher()
    facts = {"protocol": tls.version() or "", "cipher": cipher[0] if cipher else ""}
    if subject:
        facts["peer_subject"] = peer_subject(tls)
    return facts
