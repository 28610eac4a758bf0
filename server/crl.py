"""Certificate revocation lists: fetched, checked, and the last good copy kept.

Owns: `crl_files` (the CRL files the TLS contexts load, one per `tls.crl`
source), `refresh_crls` (the work of the `crl-refresh` job) and `crl_stamp`
(what a running server watches to rebuild its contexts after a refresh).

Each source of `tls.crl` (a file path or an http(s) URL) has one cached copy,
PEM, under `data/crl/` beside the configuration. A refresh reads the source
(PEM or DER), and replaces the cached copy only when the new CRL parses, is
signed by a CA of `tls.ca_bundle` and is not past its `nextUpdate`; anything
else leaves the last good copy in force and says why (R7, "keep the last
non-expired CRL"). A file source never refreshed yet is loaded as it is; a
URL source never fetched gives no file, so the contexts' CRL check fails
closed until a refresh succeeds. No OCSP.

Ref: R7; RFC 5280 5 (CRL profile), 6.3 (CRL validation).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .config import Config

log = logging.getLogger("mss.crl")
MAX_CRL = 32 * 1024 * 1024
CACHE_DIR = "data/crl"


@dataclass(frozen=True)
class CrlResult:
    source: str
    ok: bool
    message: str


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def cache_path(cfg: Config, source: str) -> Path:
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    return cfg.resolve(CACHE_DIR) / f"{digest}.pem"


def crl_files(cfg: Config) -> list[Path]:
    """The CRL file in force for each source that has one."""
    found = []
    for source in cfg.tls.crl:
        cached = cache_path(cfg, source)
        if cached.is_file():
            found.append(cached)
        elif not _is_url(source) and cfg.resolve(source).is_file():
            found.append(cfg.resolve(source))
    return found


def crl_stamp(cfg: Config) -> tuple[tuple[str, float], ...]:
    """(file, mtime) of every CRL in force: changes when a refresh replaced one."""
    return tuple((str(p), p.stat().st_mtime) for p in crl_files(cfg))


def _read(cfg: Config, source: str) -> bytes:
    if _is_url(source):
        with urllib.request.urlopen(source, timeout=60) as resp:  # noqa: S310 (configured URL)
            data: bytes = resp.read(MAX_CRL + 1)
    else:
        data = cfg.resolve(source).read_bytes()
    if len(data) > MAX_CRL:
        raise ValueError(f"larger than {MAX_CRL} bytes")
    return data


def _parse(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _issuers(cfg: Config) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(cfg.resolve(cfg.tls.ca_bundle).read_bytes())


def check_crl(crl: x509.CertificateRevocationList, cas: list[x509.Certificate],
              now: datetime) -> None:
    """Raise ValueError unless `crl` is signed by one of `cas` and still current."""
    issuer = next((ca for ca in cas if ca.subject == crl.issuer), None)
    if issuer is None:
        raise ValueError(f"issuer {crl.issuer.rfc4514_string()} is not in tls.ca_bundle")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise ValueError("signature does not verify")
    if crl.next_update_utc is not None and crl.next_update_utc <= now:
        raise ValueError(f"expired (nextUpdate {crl.next_update_utc.isoformat()})")


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` in one step. The temporary name is unique: the exchange's start
    and the `crl-refresh` job (and every worker process) may refresh the same source
    at once, and a shared temporary name lets one rename the other's file away."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def refresh_one(cfg: Config, source: str, now: datetime) -> CrlResult:
    """Fetch and check one source; replace its cached copy only if the new one is good."""
    try:
        crl = _parse(_read(cfg, source))
        check_crl(crl, _issuers(cfg), now)
    except (OSError, ValueError) as exc:
        kept = "last good copy kept" if cache_path(cfg, source).is_file() else "no copy yet"
        log.warning("CRL refresh from %s failed (%s): %s", source, kept, exc)
        return CrlResult(source, False, f"{source}: {exc} ({kept})")
    pem = crl.public_bytes(serialization.Encoding.PEM)
    cached = cache_path(cfg, source)
    if not (cached.is_file() and cached.read_bytes() == pem):
        _write_atomic(cached, pem)
    return CrlResult(source, True, f"{source}: {len(crl)} revoked, "
                     f"issued {crl.last_update_utc.isoformat()}")


def refresh_crls(cfg: Config, now: datetime) -> list[CrlResult]:
    """Refresh every `tls.crl` source (blocking: run it in a thread)."""
    return [refresh_one(cfg, source, now) for source in cfg.tls.crl]
