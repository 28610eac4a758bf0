"""The TLS profile: the one place every TLS context of the process comes from.

Owns: `server_context` (submission, IMAP, HTTP), `mx_context` (the `smtp`
listener: requests the peer operator's certificate and verifies it against
`tls.ca_bundle` and the CRLs), `relay_context` (the relay's client side:
presents our operator certificate, verifies the peer's chain, host name and
CRLs) and `TlsProfile` (the contexts in force, replaced as a whole on reload
or after a CRL refresh).

Invariants:
- TLS 1.2 minimum everywhere (R5); TLS 1.2 offers only the four ECDHE-RSA
  suites of R6 (TLS 1.3 keeps its own suites, and `tls.tls13 = false` caps
  every context at 1.2); compression and renegotiation are off;
- a context that verifies a peer trusts `tls.ca_bundle` only (never the
  system store) and, when `tls.crl` names CRLs, checks the peer certificate
  against the last good copy of each (`server.crl`; R7); a configured CRL
  that cannot be read fails the context, so verification fails closed;
- the relay context never skips verification: `CERT_REQUIRED` and host name
  checking are set here and nowhere weakened (R4).

Ref: R4, R5, R6, R7; RFC 8996 (TLS 1.0/1.1 deprecated); RFC 5280 6.3 (CRLs).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from .config import Config
from .crl import crl_files

R6_CIPHERS = ":".join([
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256",
])


def _profile(ctx: ssl.SSLContext, cfg: Config) -> ssl.SSLContext:
    """Versions, suites and options of R5/R6 on any context."""
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not cfg.tls.tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(R6_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return ctx


def _verify_peers(ctx: ssl.SSLContext, cfg: Config) -> None:
    """Trust `tls.ca_bundle` and check revocation against the CRLs in force (R7)."""
    ctx.load_verify_locations(cfg.resolve(cfg.tls.ca_bundle))
    files = crl_files(cfg)
    for path in files:
        ctx.load_verify_locations(path)
    if cfg.tls.crl:
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def server_context(cfg: Config, *, request_client_cert: bool = False) -> ssl.SSLContext:
    """A server-side context with the operator certificate (R5, R6)."""
    ctx = _profile(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cfg)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cfg.resolve(cfg.tls.cert), cfg.resolve(cfg.tls.key))
    if request_client_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        _verify_peers(ctx, cfg)
    return ctx


def mx_context(cfg: Config) -> ssl.SSLContext:
    """The MX's context: a client certificate is requested and, when sent, must
    verify (chain to `tls.ca_bundle`, validity dates, CRLs) or the handshake
    fails; a peer that sends none is refused later, at MAIL (R4)."""
    return server_context(cfg, request_client_cert=True)


def relay_context(cfg: Config) -> ssl.SSLContext:
    """The relay's client context: our operator certificate as client certificate,
    the peer's chain, dates, CRLs and host name verified (R4, R7)."""
    ctx = _profile(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), cfg)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.load_cert_chain(cfg.resolve(cfg.tls.cert), cfg.resolve(cfg.tls.key))
    _verify_peers(ctx, cfg)
    return ctx


@dataclass(frozen=True)
class TlsProfile:
    """The contexts in force; a reload builds a new profile and swaps it whole."""

    mx: ssl.SSLContext
    relay: ssl.SSLContext

    @classmethod
    def build(cls, cfg: Config) -> TlsProfile:
        return cls(mx=mx_context(cfg), relay=relay_context(cfg))
