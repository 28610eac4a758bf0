"""TLS server contexts for every listener.

Invariants: TLS 1.2 minimum everywhere (R5); TLS 1.2 offers only the four
ECDHE-RSA suites of R6 (TLS 1.3 keeps its own suites, and can be disabled
with `tls.tls13 = false`); compression and renegotiation are off.

Ref: R5, R6, R7; RFC 8996 (TLS 1.0/1.1 deprecated).
"""

from __future__ import annotations

import ssl

from .config import Config

R6_CIPHERS = ":".join([
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256",
])


def server_context(cfg: Config, *, request_client_cert: bool = False) -> ssl.SSLContext:
    """A server-side context with the operator certificate (R5, R6)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not cfg.tls.tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(R6_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cfg.resolve(cfg.tls.cert), cfg.resolve(cfg.tls.key))
    if request_client_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cfg.resolve(cfg.tls.ca_bundle))
    return ctx
